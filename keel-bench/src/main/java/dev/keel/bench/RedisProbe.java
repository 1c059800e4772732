package dev.keel.bench;

import dev.keel.Event;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.redis.LocalRedis;
import dev.keel.redis.RedisJournal;
import dev.keel.spi.EnvelopeCodec;
import io.lettuce.core.Consumer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * End to end on one local Redis (started from the binary embedded-redis ships, append-only file synced every
 * second, unless {@code REDIS_URL} names one): emit or add {@code events} events, time until every one is
 * delivered and acknowledged.
 *
 * <ul>
 *   <li>Keel on Redis: 8 lanes, one no-op subscription, at most 5,000 emits awaiting Redis.
 *   <li>A plain Lettuce loop doing the same work: a producer adds each event's CloudEvents JSON to one of 8 streams
 *       by its key ({@code XADD}, asynchronous, 5,000 in flight at most); a consumer in a consumer group reads all
 *       8 streams ({@code XREADGROUP COUNT 1000}), parses each event, and acknowledges each batch ({@code XACK}).
 * </ul>
 *
 * A warm-up round of each, then five rounds taking turns; medians, and the median of the per-round ratios.
 *
 * <p>With {@code always}, Redis syncs its append-only file before it answers each write (the setting docs/redis.md
 * recommends): both contenders pay for it.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.RedisProbe [events] [everysec|always]</pre>
 */
public final class RedisProbe {
    static final int LANES = 8;
    static final int KEYS = 1024;
    private static final int ROUNDS = 5;
    private static final int WINDOW = 5_000;
    private static final AtomicInteger PREFIXES = new AtomicInteger();

    private RedisProbe() {}

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        boolean always = args.length > 1 && args[1].equals("always");
        System.out.printf(
                "Redis Streams end to end (%,d events, %d streams), JDK %s, %d cpus%n",
                n, LANES, Runtime.version(), Runtime.getRuntime().availableProcessors());
        String external = System.getenv("REDIS_URL");
        LocalRedis redis = external == null
                ? LocalRedis.start(always ? LocalRedis.Persistence.AOF_ALWAYS : LocalRedis.Persistence.AOF_EVERYSEC)
                : null;
        System.out.println("append-only file synced " + (always ? "before every answer (always)" : "every second"));
        String url = external != null ? external : redis.url();
        try (KeelRounds keel = new KeelRounds(
                        RedisJournal.builder()
                                .url(url)
                                .prefix("bench-" + PREFIXES.incrementAndGet())
                                .build(),
                        LANES,
                        KEYS,
                        WINDOW);
                LettuceLoop loop = new LettuceLoop(url)) {
            double[][] rates = new double[2][ROUNDS];
            keel.run(n);
            loop.run(n);
            for (int i = 0; i < ROUNDS; i++) {
                rates[0][i] = keel.run(n);
                rates[1][i] = loop.run(n);
            }
            double[] ratios = new double[ROUNDS];
            for (int i = 0; i < ROUNDS; i++) {
                ratios[i] = rates[0][i] / rates[1][i];
            }
            report("keel on redis", rates[0]);
            report("lettuce XADD/XREADGROUP/XACK loop", rates[1]);
            Arrays.sort(ratios);
            System.out.printf("keel / lettuce loop: %.2f (median of the per-round ratios)%n", ratios[ROUNDS / 2]);
        } finally {
            if (redis != null) {
                redis.close();
            }
        }
        System.exit(0);
    }

    private static void report(String who, double[] rates) {
        StringBuilder each = new StringBuilder();
        for (double r : rates) {
            each.append(each.isEmpty() ? "" : ", ").append(String.format("%,.0f", r));
        }
        double[] sorted = rates.clone();
        Arrays.sort(sorted);
        System.out.printf(
                "%s: median of %d rounds after warm-up: %,.0f events/s (rounds: %s)%n",
                who, sorted.length, sorted[sorted.length / 2], each);
    }

    /** The same work with Lettuce alone: 8 streams, a consumer group, XADD, XREADGROUP and XACK. */
    private static final class LettuceLoop implements AutoCloseable {
        private final RedisClient client;
        private final StatefulRedisConnection<String, byte[]> producer;
        private final StatefulRedisConnection<String, byte[]> consumer;
        private final EnvelopeCodec envelopes = new EnvelopeCodec(PayloadCodec.defaultMapper());

        LettuceLoop(String url) {
            client = RedisClient.create(url);
            RedisCodec<String, byte[]> codec = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);
            producer = client.connect(codec);
            consumer = client.connect(codec);
        }

        double run(int events) throws Exception {
            String prefix = "loop-" + PREFIXES.incrementAndGet() + ":";
            RedisCommands<String, byte[]> sync = consumer.sync();
            String[] streams = new String[LANES];
            for (int s = 0; s < LANES; s++) {
                streams[s] = prefix + s;
                sync.xgroupCreate(
                        XReadArgs.StreamOffset.from(streams[s], "0-0"), "g", XGroupCreateArgs.Builder.mkstream());
            }
            LongAdder acked = new LongAdder();
            Thread reader = Thread.ofPlatform().start(() -> consume(sync, streams, events, acked));
            RedisAsyncCommands<String, byte[]> async = producer.async();
            Semaphore window = new Semaphore(WINDOW);
            long start = System.nanoTime();
            for (int i = 0; i < events; i++) {
                window.acquire();
                String key = "key-" + (i % KEYS);
                byte[] body = envelopes.write(
                        Event.builder("bench.event", (Object) i).key(key).build());
                async.xadd(streams[Math.floorMod(key.hashCode(), LANES)], Map.of("e", body))
                        .whenComplete((id, e) -> window.release());
            }
            reader.join();
            double rate = events / ((System.nanoTime() - start) / 1e9);
            sync.del(streams);
            return rate;
        }

        @SuppressWarnings("unchecked")
        private void consume(RedisCommands<String, byte[]> sync, String[] streams, int events, LongAdder acked) {
            XReadArgs.StreamOffset<String>[] offsets = new XReadArgs.StreamOffset[LANES];
            for (int s = 0; s < LANES; s++) {
                offsets[s] = XReadArgs.StreamOffset.lastConsumed(streams[s]);
            }
            Consumer<String> me = Consumer.from("g", "c1");
            XReadArgs read = XReadArgs.Builder.count(1000).block(100);
            long parsed = 0;
            while (acked.sum() < events) {
                List<StreamMessage<String, byte[]>> batch = sync.xreadgroup(me, read, offsets);
                Map<String, List<String>> ids = new HashMap<>();
                for (StreamMessage<String, byte[]> m : batch) {
                    parsed += envelopes.read(m.getBody().get("e")).id().length();
                    ids.computeIfAbsent(m.getStream(), k -> new ArrayList<>()).add(m.getId());
                }
                ids.forEach((stream, list) -> sync.xack(stream, "g", list.toArray(String[]::new)));
                acked.add(batch.size());
            }
            if (parsed == 0) {
                throw new IllegalStateException("nothing was read");
            }
        }

        @Override
        public void close() {
            producer.close();
            consumer.close();
            client.shutdown();
        }
    }
}
