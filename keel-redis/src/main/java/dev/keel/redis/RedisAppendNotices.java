package dev.keel.redis;

import dev.keel.AppendNotices;
import dev.keel.ComponentHealth;
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
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
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
 * <p>Threads: a virtual thread ({@code keel-redis-notices}) connects, with a growing back-off while Redis is away,
 * and tests the subscription every 2 s with a notice to itself; Lettuce's event loop delivers messages to the
 * listeners and completes publishes; the connections are published through volatile fields, the newest sequence
 * and the publish in flight per lane through atomic arrays.
 */
public final class RedisAppendNotices implements AppendNotices, ComponentHealth.Check {
    private static final Logger log = LoggerFactory.getLogger(RedisAppendNotices.class);
    /** Keel's most lanes. */
    private static final int MAX_LANES = 1024;
    /** How often the notices test themselves. */
    private static final Duration PING = Duration.ofSeconds(2);

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
    /** Whether the subscription is known to work: the last test notice came back. */
    private volatile boolean live;
    /** The highest test notice of this instance that came back. */
    private final AtomicLong pongs = new AtomicLong();
    /** Per lane, the newest sequence this instance appended, and whether a publish of it is in flight. */
    private final AtomicLongArray latest = new AtomicLongArray(MAX_LANES);

    private final AtomicIntegerArray inFlight = new AtomicIntegerArray(MAX_LANES);

    private RedisAppendNotices(String url, String prefix, MeterRegistry registry) {
        RedisURI uri = RedisClients.uri(url);
        this.client = RedisClients.client(uri, Duration.ofSeconds(2), null);
        this.channel = "{" + prefix + "}:appended";
        this.monitor = new RedisMonitor(
                "redis-notices", client, RedisClients.where(uri), false, Duration.ofSeconds(5), false, registry);
        this.sent = registry == null ? null : notices(registry, "sent");
        this.received = registry == null ? null : notices(registry, "received");
        this.connector = Thread.ofVirtual().name("keel-redis-notices").start(this::keep);
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
        RedisClients.uri(url);
        RedisClients.prefix(prefix);
        return new RedisAppendNotices(url, prefix, registry);
    }

    /**
     * Keeps the notices working: connects while Redis is away (back-off to 30 s), and once connected sends itself a
     * test notice every {@link #PING} and checks that the previous one came back. When one did not (a subscription
     * a proxy dropped without a word), notices are not {@link #live} and both connections are made again.
     */
    private void keep() {
        Duration backoff = Duration.ofMillis(500);
        long sentPing = 0;
        while (!closed) {
            if (subscriber == null) {
                if (!connect()) {
                    sleep(backoff);
                    backoff = RedisClients.longer(backoff);
                    continue;
                }
                backoff = Duration.ofMillis(500);
                sentPing = 0;
            }
            if (sentPing > 0 && pongs.get() < sentPing) {
                if (live) {
                    log.warn("append notices: this instance's test notice did not come back; subscribing again");
                }
                live = false;
                disconnect();
                continue;
            }
            sentPing++;
            try {
                publisher.async().publish(channel, "-1 " + sentPing + " " + instance);
            } catch (RedisException e) {
                monitor.failed(e);
            }
            sleep(PING);
        }
    }

    private void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            closed = true;
        }
    }

    private boolean connect() {
        StatefulRedisPubSubConnection<String, String> sub = null;
        try {
            sub = client.connectPubSub(StringCodec.UTF8);
            sub.addListener(new RedisPubSubAdapter<>() {
                @Override
                public void message(String ch, String message) {
                    received(message);
                }
            });
            sub.sync().subscribe(channel);
            publisher = client.connect(StringCodec.UTF8);
            pongs.set(0);
            subscriber = sub;
            live = true;
            return true;
        } catch (RedisException e) {
            if (sub != null) {
                sub.close();
            }
            log.debug("append notices: Redis is not reachable yet ({}); trying again", e.getMessage());
            return false;
        }
    }

    private void disconnect() {
        StatefulRedisPubSubConnection<String, String> sub = subscriber;
        StatefulRedisConnection<String, String> pub = publisher;
        subscriber = null;
        publisher = null;
        if (sub != null) {
            sub.close();
        }
        if (pub != null) {
            pub.close();
        }
    }

    private void received(String message) {
        int first = message.indexOf(' ');
        int second = message.indexOf(' ', first + 1);
        if (first < 0 || second < 0) {
            return;
        }
        boolean own = message.length() - second - 1 == instance.length()
                && message.regionMatches(second + 1, instance, 0, instance.length());
        int lane;
        long sequence;
        try {
            lane = Integer.parseInt(message, 0, first, 10);
            sequence = Long.parseLong(message, first + 1, second, 10);
        } catch (NumberFormatException e) {
            return;
        }
        if (own) {
            if (lane == -1) {
                pongs.accumulateAndGet(sequence, Math::max);
            }
            return;
        }
        if (lane < 0 || lane >= MAX_LANES) {
            return;
        }
        if (received != null) {
            received.increment();
        }
        for (Listener l : listeners) {
            l.appended(lane, sequence);
        }
    }

    /**
     * Publishes the lane's newest sequence, one publish in flight per lane: appends made while one is in flight
     * are told by one more, with the newest sequence. So a slow or unreachable Redis holds at most one message per
     * lane, and never blocks the append that calls it.
     */
    @Override
    public void published(int lane, long sequence) {
        if (lane < 0 || lane >= MAX_LANES || closed) {
            return;
        }
        latest.accumulateAndGet(lane, sequence, Math::max);
        if (inFlight.compareAndSet(lane, 0, 1)) {
            send(lane);
        }
    }

    private void send(int lane) {
        StatefulRedisConnection<String, String> p = publisher;
        long sequence = latest.get(lane);
        if (p == null || !live || closed) {
            inFlight.set(lane, 0);
            return;
        }
        if (sent != null) {
            sent.increment();
        }
        try {
            p.async().publish(channel, lane + " " + sequence + " " + instance).whenComplete((n, e) -> {
                if (e != null) {
                    monitor.failed(e instanceof RedisException r ? r : new RedisException(e));
                }
                if (latest.get(lane) > sequence) {
                    send(lane); // still in flight for this lane: tell the newest
                } else {
                    inFlight.set(lane, 0);
                    if (latest.get(lane) > sequence && inFlight.compareAndSet(lane, 0, 1)) {
                        send(lane);
                    }
                }
            });
        } catch (RedisException e) {
            monitor.failed(e);
            inFlight.set(lane, 0);
        }
    }

    @Override
    public boolean live() {
        return live && monitor.up();
    }

    @Override
    public AutoCloseable watch(Listener grew) {
        listeners.add(grew);
        return () -> listeners.remove(grew);
    }

    /** From the PINGs of its monitor; {@code DEGRADED} also while the test notices do not come back. */
    @Override
    public ComponentHealth check() {
        ComponentHealth h = monitor.check();
        if (h.status() == ComponentHealth.Status.HEALTHY && !live) {
            return new ComponentHealth(
                    h.name(),
                    ComponentHealth.Status.DEGRADED,
                    "Redis answers, but this instance's notices are not arriving yet; subscribing again, polling"
                            + " meanwhile",
                    h.details());
        }
        return h;
    }

    @Override
    public void close() {
        closed = true;
        connector.interrupt();
        monitor.close();
        disconnect();
        client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
    }
}
