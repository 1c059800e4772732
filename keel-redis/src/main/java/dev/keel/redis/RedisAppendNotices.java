package dev.keel.redis;

import dev.keel.AppendNotices;
import dev.keel.ComponentHealth;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link AppendNotices} on Redis's publish and subscribe, for instances that share a PostgreSQL or Kafka journal:
 * each append is published as {@code <lane> <sequence> <instance>} on {@code {prefix}:appended}, and every other
 * instance wakes that lane's readers (subscription runners, event streams) at once instead of at their next poll.
 * A Redis journal publishes by itself and needs none.
 *
 * <p>Redis is optional here: unreachable at start or later, the notices stop, readers fall back to polling, and
 * {@link #check()} reports {@code DEGRADED} until Redis answers again; nothing waits for it. Publishing is
 * asynchronous and never blocks the append that calls it.
 *
 * <p>Threads: a virtual thread ({@code keel-redis-notices}) connects, with a growing back-off while Redis is away;
 * Lettuce's event loop delivers messages to the listeners; the connections are published through volatile fields.
 */
public final class RedisAppendNotices implements AppendNotices, ComponentHealth.Check {
    private static final Logger log = LoggerFactory.getLogger(RedisAppendNotices.class);

    private final RedisClient client;
    private final String channel;
    private final String instance = UUID.randomUUID().toString();
    private final CopyOnWriteArrayList<Listener> listeners = new CopyOnWriteArrayList<>();
    private final RedisMonitor monitor;
    /** Null without a registry. */
    private final Counter sent;
    /** Null without a registry. */
    private final Counter received;

    private final Thread connector;
    private volatile StatefulRedisConnection<String, String> publisher;
    private volatile StatefulRedisPubSubConnection<String, String> subscriber;
    private volatile boolean closed;

    private RedisAppendNotices(String url, String prefix, MeterRegistry registry) {
        RedisURI uri = RedisURI.create(url);
        uri.setTimeout(Duration.ofSeconds(2));
        this.client = RedisClient.create(uri);
        client.setOptions(ClientOptions.builder()
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .build());
        this.channel = "{" + prefix + "}:appended";
        String where = uri.getHost() + ":" + uri.getPort();
        this.monitor = new RedisMonitor("redis-notices", client, where, false, Duration.ofSeconds(5), false, registry);
        this.sent = registry == null ? null : notices(registry, "sent");
        this.received = registry == null ? null : notices(registry, "received");
        this.connector = Thread.ofVirtual().name("keel-redis-notices").start(this::connect);
    }

    private static Counter notices(MeterRegistry registry, String direction) {
        return Counter.builder("keel.redis.notices")
                .description("Append notices published to the other instances, and received from them")
                .tag("direction", direction)
                .register(registry);
    }

    /**
     * Notices on the Redis at the URL under the key prefix (the instances of one deployment share one prefix). It
     * connects in the background: an unreachable Redis delays nothing.
     *
     * @param registry where the Redis meters go, or null
     * @throws IllegalArgumentException when the URL is not a Redis URL
     */
    public static RedisAppendNotices connect(String url, String prefix, MeterRegistry registry) {
        RedisJournal.builder().url(url).prefix(prefix); // the same checks as the journal's, with its messages
        return new RedisAppendNotices(url, prefix, registry);
    }

    private void connect() {
        Duration backoff = Duration.ofMillis(500);
        while (!closed && subscriber == null) {
            try {
                StatefulRedisPubSubConnection<String, String> sub = client.connectPubSub(StringCodec.UTF8);
                sub.addListener(new RedisPubSubAdapter<>() {
                    @Override
                    public void message(String ch, String message) {
                        received(message);
                    }
                });
                sub.sync().subscribe(channel);
                publisher = client.connect(StringCodec.UTF8);
                subscriber = sub;
            } catch (RedisException e) {
                log.debug("append notices: Redis is not reachable yet ({}); trying again", e.getMessage());
                try {
                    Thread.sleep(backoff);
                } catch (InterruptedException ie) {
                    return;
                }
                backoff = backoff.multipliedBy(2).compareTo(Duration.ofSeconds(30)) > 0
                        ? Duration.ofSeconds(30)
                        : backoff.multipliedBy(2);
            }
        }
    }

    private void received(String message) {
        int first = message.indexOf(' ');
        int second = message.indexOf(' ', first + 1);
        if (first < 0 || second < 0 || message.regionMatches(second + 1, instance, 0, instance.length())) {
            return; // not a notice, or this instance's own
        }
        int lane;
        long sequence;
        try {
            lane = Integer.parseInt(message, 0, first, 10);
            sequence = Long.parseLong(message, first + 1, second, 10);
        } catch (NumberFormatException e) {
            return;
        }
        if (received != null) {
            received.increment();
        }
        for (Listener l : listeners) {
            l.appended(lane, sequence);
        }
    }

    @Override
    public void published(int lane, long sequence) {
        StatefulRedisConnection<String, String> p = publisher;
        if (p == null || closed) {
            return;
        }
        try {
            if (sent != null) {
                sent.increment();
            }
            p.async().publish(channel, lane + " " + sequence + " " + instance).exceptionally(e -> {
                monitor.failed(e instanceof RedisException r ? r : new RedisException(e));
                return null;
            });
        } catch (RedisException e) {
            monitor.failed(e);
        }
    }

    @Override
    public AutoCloseable watch(Listener grew) {
        listeners.add(grew);
        return () -> listeners.remove(grew);
    }

    @Override
    public ComponentHealth check() {
        return monitor.check();
    }

    @Override
    public void close() {
        closed = true;
        connector.interrupt();
        monitor.close();
        if (subscriber != null) {
            subscriber.close();
        }
        if (publisher != null) {
            publisher.close();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
    }
}
