package dev.keel.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heads of the lanes, kept in memory so that reading one costs no round trip (the runtime reads a lane's head
 * on every emit and every pass). A head moves with what this process appended, with what {@code heads} holds when
 * a notice on {@code appended} (which every append script publishes) says a lane grew, and with what a watcher
 * reads from {@code heads} every
 * {@value #WATCH_MILLIS} ms (in case a notice was lost: Redis's publish is at most once). A head never comes
 * down: when the server holds less than this process saw (it lost writes it had acknowledged, without {@code
 * appendfsync always}), the server's head is raised back, so that no sequence is ever given to two events.
 *
 * <p>Threads: the heads are an atomic array any thread may advance; the watcher thread ({@code keel-redis-heads})
 * owns its reads; Lettuce's event loop delivers the notices and the heads they make it read, which only advance heads
 * and call the listeners.
 */
final class LaneHeads implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LaneHeads.class);
    static final int WATCH_MILLIS = 100;

    private final AtomicLongArray heads;
    /** Per lane, the highest sequence a notice named. */
    private final AtomicLongArray noticed;
    /** Per lane, 1 while a read of its head for a notice is in flight. */
    private final java.util.concurrent.atomic.AtomicIntegerArray asking;

    private final RedisCommands<String, byte[]> redis;
    private final Scripts scripts;
    private final String prefix;
    private final RedisAsyncCommands<String, byte[]> async;
    private final String key;
    private final StatefulRedisPubSubConnection<String, String> notices;
    private final CopyOnWriteArrayList<IntConsumer> listeners = new CopyOnWriteArrayList<>();
    private final Thread watcher;
    private volatile boolean closed;

    LaneHeads(
            RedisClient client,
            StatefulRedisConnection<String, byte[]> connection,
            Scripts scripts,
            String prefix,
            int lanes) {
        this.heads = new AtomicLongArray(lanes);
        this.noticed = new AtomicLongArray(lanes);
        this.asking = new java.util.concurrent.atomic.AtomicIntegerArray(lanes);
        this.scripts = scripts;
        this.prefix = prefix;
        this.redis = connection.sync();
        this.async = connection.async();
        this.key = prefix + "heads";
        refresh();
        this.notices = client.connectPubSub(StringCodec.UTF8);
        notices.addListener(new RedisPubSubAdapter<>() {
            @Override
            public void message(String channel, String message) {
                noticed(message);
            }
        });
        notices.sync().subscribe(prefix + "appended");
        this.watcher = Thread.ofPlatform().name("keel-redis-heads").daemon().start(this::watch);
    }

    long get(int lane) {
        return heads.get(lane);
    }

    /** Records an append this process made. */
    void appended(int lane, long sequence) {
        heads.accumulateAndGet(lane, sequence, Math::max);
    }

    /** Calls the listener with a lane's number when a notice says it grew (by any instance's append). */
    AutoCloseable onGrowth(IntConsumer listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    private void noticed(String message) {
        int space = message.indexOf(' ');
        if (space < 0) {
            return;
        }
        try {
            int lane = Integer.parseInt(message, 0, space, 10);
            long seq = Long.parseLong(message, space + 1, message.length(), 10);
            if (lane < 0 || lane >= heads.length()) {
                return;
            }
            if (seq <= heads.get(lane)) {
                return; // this process's own append, or one it has seen
            }
            noticed.accumulateAndGet(lane, seq, Math::max);
            ask(lane);
        } catch (RuntimeException e) {
            log.debug("ignored an append notice '{}'", message, e);
        }
    }

    /**
     * A notice is a hint: the head is what the server holds, read at once, one read in flight per lane (a notice
     * that arrives meanwhile is answered by one more read once it returns).
     */
    private void ask(int lane) {
        if (!asking.compareAndSet(lane, 0, 1)) {
            return;
        }
        long wanted = noticed.get(lane);
        async.hget(key, Integer.toString(lane)).whenComplete((v, e) -> {
            if (e == null) {
                grew(lane, Bytes.number(v, 0));
            }
            asking.set(lane, 0);
            if (e == null && noticed.get(lane) > wanted && noticed.get(lane) > heads.get(lane)) {
                ask(lane);
            }
        });
    }

    private void grew(int lane, long server) {
        if (heads.getAndAccumulate(lane, server, Math::max) < server) {
            for (IntConsumer l : listeners) {
                l.accept(lane);
            }
        }
    }

    private void watch() {
        while (!closed) {
            try {
                Thread.sleep(WATCH_MILLIS);
                refresh();
            } catch (InterruptedException e) {
                return;
            } catch (RedisException e) {
                log.debug("the lanes' heads could not be read; trying again", e);
            }
        }
    }

    private void refresh() {
        long[] before = new long[heads.length()];
        for (int i = 0; i < before.length; i++) {
            before[i] = heads.get(i);
        }
        Map<String, byte[]> stored = redis.hgetall(key);
        for (int lane = 0; lane < before.length; lane++) {
            long server = Bytes.number(stored.get(Integer.toString(lane)), 0);
            if (server > before[lane]) {
                grew(lane, server);
            } else if (server < before[lane]) {
                // Redis lost acknowledged appends. A head never comes down: sequences are never given twice, so
                // a reader past the loss skips nothing new; the lost events stay lost.
                scripts.run(
                        Scripts.Script.RAISE_HEAD,
                        ScriptOutputType.INTEGER,
                        Bytes.of(prefix),
                        Bytes.of(lane),
                        Bytes.of(before[lane]));
                log.error(
                        "lane {}: Redis holds events up to {} but had acknowledged up to {}: it lost acknowledged"
                                + " appends (restarted from an AOF synced once a second, or failed over to a lagging"
                                + " replica?); new events follow {}. docs/redis.md says which settings prevent this",
                        lane,
                        server,
                        before[lane],
                        before[lane]);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        watcher.interrupt();
        try {
            watcher.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        notices.close();
    }
}
