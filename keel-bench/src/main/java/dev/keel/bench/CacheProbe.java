package dev.keel.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.redis.LocalRedis;
import dev.keel.redis.RedisCache;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;
import java.util.function.Function;
import org.redisson.Redisson;
import org.redisson.api.RLocalCachedMap;
import org.redisson.api.RMap;
import org.redisson.api.RedissonClient;
import org.redisson.api.options.LocalCachedMapOptions;
import org.redisson.codec.TypedJsonJacksonCodec;
import org.redisson.config.Config;

/**
 * The shared cache against Redisson's {@code RLocalCachedMap} (a map in Redis with a near cache kept coherent by
 * invalidation messages, the closest peer), both on one local Redis (memory only), values a product of about 220
 * bytes of JSON, 10,000 keys:
 *
 * <ul>
 *   <li><b>local hit</b>: a read the near cache answers, one thread, latency of each read;
 *   <li><b>redis hit</b>: a read that goes to Redis (Keel with no near cache; Redisson's plain {@code RMap}), one
 *       thread;
 *   <li><b>mixed</b>: 4 threads for 10 s, 90% reads and 10% writes over the 10,000 keys, both with near caches.
 * </ul>
 *
 * Keel's puts carry a time to live and keep the least-recently-used order; Redisson's free {@code RLocalCachedMap}
 * has neither (its per-entry expiry is in the paid edition), so its writes do less. Three rounds each, taking turns;
 * medians.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.CacheProbe</pre>
 */
public final class CacheProbe {
    private static final int KEYS = 10_000;
    private static final int ROUNDS = 3;

    /** A product as a read model would cache it. */
    public record Product(
            String sku,
            String name,
            long priceCents,
            String currency,
            List<String> tags,
            Map<String, String> attributes) {}

    private CacheProbe() {}

    public static void main(String[] args) throws Exception {
        System.out.printf(
                "cache: %,d keys, JDK %s, %d cpus%n",
                KEYS, Runtime.version(), Runtime.getRuntime().availableProcessors());
        ObjectMapper mapper = PayloadCodec.defaultMapper();
        Product sample = product(1);
        System.out.printf("value: %d bytes of JSON%n", mapper.writeValueAsBytes(sample).length);
        try (LocalRedis redis = LocalRedis.start()) {
            Config config = new Config();
            config.useSingleServer().setAddress(redis.url()).setConnectionMinimumIdleSize(4);
            RedissonClient redisson = Redisson.create(config);
            try (RedisCache<Product> keelNear = RedisCache.builder("near", Product.class)
                            .url(redis.url())
                            .maxKeys(KEYS * 2L)
                            .build();
                    RedisCache<Product> keelFar = RedisCache.builder("far", Product.class)
                            .url(redis.url())
                            .nearCacheSize(0)
                            .maxKeys(KEYS * 2L)
                            .build()) {
                TypedJsonJacksonCodec codec = new TypedJsonJacksonCodec(String.class, Product.class, mapper);
                RLocalCachedMap<String, Product> redissonNear =
                        redisson.getLocalCachedMap(LocalCachedMapOptions.<String, Product>name("r-near")
                                .codec(codec)
                                .cacheSize(KEYS * 2)
                                .syncStrategy(LocalCachedMapOptions.SyncStrategy.INVALIDATE));
                RMap<String, Product> redissonFar = redisson.getMap("r-far", codec);
                for (int i = 0; i < KEYS; i++) {
                    Product p = product(i);
                    keelNear.put("k" + i, p);
                    keelFar.put("k" + i, p);
                    redissonNear.fastPut("k" + i, p);
                    redissonFar.fastPut("k" + i, p);
                }
                double[][] local = new double[2][];
                double[][] remote = new double[2][];
                double[][] mixed = new double[2][ROUNDS];
                List<double[]> localKeel = new ArrayList<>();
                List<double[]> localRedisson = new ArrayList<>();
                List<double[]> remoteKeel = new ArrayList<>();
                List<double[]> remoteRedisson = new ArrayList<>();
                // Warm-up of each, then rounds taking turns.
                latencies(k -> keelNear.get(k).orElseThrow(), 200_000);
                latencies(redissonNear::get, 200_000);
                latencies(k -> keelFar.get(k).orElseThrow(), 20_000);
                latencies(redissonFar::get, 20_000);
                mixed(keelNear::get, keelNear::put, Duration.ofSeconds(3));
                mixed(redissonNear::get, redissonNear::fastPut, Duration.ofSeconds(3));
                for (int r = 0; r < ROUNDS; r++) {
                    localKeel.add(latencies(k -> keelNear.get(k).orElseThrow(), 1_000_000));
                    localRedisson.add(latencies(redissonNear::get, 1_000_000));
                    remoteKeel.add(latencies(k -> keelFar.get(k).orElseThrow(), 50_000));
                    remoteRedisson.add(latencies(redissonFar::get, 50_000));
                    mixed[0][r] = mixed(keelNear::get, keelNear::put, Duration.ofSeconds(10));
                    mixed[1][r] = mixed(redissonNear::get, redissonNear::fastPut, Duration.ofSeconds(10));
                }
                report("local hit, keel RedisCache", localKeel);
                report("local hit, redisson RLocalCachedMap", localRedisson);
                report("redis hit, keel RedisCache (no near cache)", remoteKeel);
                report("redis hit, redisson RMap", remoteRedisson);
                System.out.printf(
                        "mixed 90/10, 4 threads: keel %,.0f ops/s, redisson %,.0f ops/s (medians of %d rounds)%n",
                        median(mixed[0]), median(mixed[1]), ROUNDS);
            } finally {
                redisson.shutdown();
            }
        }
        System.exit(0);
    }

    static Product product(int i) {
        return new Product(
                "sku-" + i,
                "Espresso machine, model " + i + ", stainless steel",
                10_000 + i,
                "EUR",
                List.of("kitchen", "coffee", i % 2 == 0 ? "sale" : "new"),
                Map.of("color", "silver", "weight", "4.2 kg", "warranty", "2 years", "origin", "IT"));
    }

    /** Per read, in nanoseconds: {p50, p99, mean}, over random keys. */
    private static double[] latencies(Function<String, Product> get, int reads) {
        long[] each = new long[reads];
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long total = 0;
        for (int i = 0; i < reads; i++) {
            String key = "k" + random.nextInt(KEYS);
            long start = System.nanoTime();
            Product p = get.apply(key);
            long took = System.nanoTime() - start;
            if (p == null) {
                throw new IllegalStateException("missing " + key);
            }
            each[i] = took;
            total += took;
        }
        Arrays.sort(each);
        return new double[] {each[reads / 2], each[(int) (reads * 0.99)], total / (double) reads};
    }

    /** Operations a second: 4 threads, 90% reads and 10% writes of random keys. */
    private static double mixed(Function<String, ?> get, BiConsumer<String, Product> put, Duration run)
            throws InterruptedException {
        LongAdder ops = new LongAdder();
        long until = System.nanoTime() + run.toNanos();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            threads.add(Thread.ofPlatform().start(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                long done = 0;
                while (System.nanoTime() < until) {
                    int k = random.nextInt(KEYS);
                    if (random.nextInt(10) == 0) {
                        put.accept("k" + k, product(k));
                    } else {
                        get.apply("k" + k);
                    }
                    done++;
                }
                ops.add(done);
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        return ops.sum() / (run.toNanos() / 1e9);
    }

    private static void report(String who, List<double[]> rounds) {
        double[] p50 = rounds.stream().mapToDouble(r -> r[0]).toArray();
        double[] p99 = rounds.stream().mapToDouble(r -> r[1]).toArray();
        double[] mean = rounds.stream().mapToDouble(r -> r[2]).toArray();
        System.out.printf(
                "%s: p50 %.1f µs, p99 %.1f µs, mean %.1f µs (medians of %d rounds)%n",
                who, median(p50) / 1e3, median(p99) / 1e3, median(mean) / 1e3, rounds.size());
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v[v.length / 2];
    }
}
