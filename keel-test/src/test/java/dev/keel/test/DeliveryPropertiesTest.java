package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * Seeded randomized checks: for random keys, failures and handler latencies, every event reaches every
 * matching subscription exactly once unless dead-lettered, and per-key order holds in STRICT and PER_KEY.
 * A failing run prints its seed; rerun one with {@code -Dkeel.seed=N}.
 */
class DeliveryPropertiesTest {
    private static final int RUNS = Integer.getInteger("keel.runs", 12);

    private record Emitted(String key, int index) {}

    @Test
    void shouldDeliverExactlyOnceInKeyOrderOnTheTestClock() {
        for (long seed : seeds()) {
            for (OrderingMode mode : OrderingMode.values()) {
                try {
                    checkWithTestClock(seed, mode);
                } catch (AssertionError e) {
                    throw new AssertionError("failed with seed " + seed + " and " + mode + ": " + e.getMessage(), e);
                }
            }
        }
    }

    @Test
    void shouldDeliverExactlyOnceInKeyOrderOnRunningLanes() {
        List<Long> seeds = seeds();
        for (long seed : seeds.subList(0, Math.min(3, seeds.size()))) {
            for (OrderingMode mode : OrderingMode.values()) {
                try {
                    checkRunning(seed, mode);
                } catch (AssertionError e) {
                    throw new AssertionError("failed with seed " + seed + " and " + mode + ": " + e.getMessage(), e);
                }
            }
        }
    }

    private static List<Long> seeds() {
        Long fixed = Long.getLong("keel.seed");
        if (fixed != null) {
            return List.of(fixed);
        }
        long base = System.nanoTime();
        List<Long> seeds = new ArrayList<>();
        for (int i = 0; i < RUNS; i++) {
            seeds.add(base + i);
        }
        return seeds;
    }

    /** Whether attempt n of event i fails: a fixed function of the seed, so a run can be replayed. */
    private static boolean fails(long seed, int index, int attempt, double rate) {
        return new Random(seed * 31 + index * 1_000_003L + attempt).nextDouble() < rate;
    }

    private void checkWithTestClock(long seed, OrderingMode mode) {
        Random r = new Random(seed);
        TestClock clock = TestClock.create();
        int lanes = 1 + r.nextInt(4);
        int keys = 1 + r.nextInt(12);
        int events = 100 + r.nextInt(200);
        double failRate = r.nextDouble() * 0.5;
        int maxAttempts = 1 + r.nextInt(4);
        Map<Integer, AtomicInteger> successes = new ConcurrentHashMap<>();
        Map<String, List<Integer>> orderSeen = new ConcurrentHashMap<>();
        try (Keel keel = Keel.builder()
                .clock(clock)
                .random(new Random(seed))
                .lanes(lanes)
                .build()) {
            keel.subscribe(Subscription.builder("prop")
                    .types("prop.*")
                    .ordering(mode)
                    .retry(RetryPolicy.builder()
                            .maxAttempts(maxAttempts)
                            .initialDelay(Duration.ofSeconds(1))
                            .maxDelay(Duration.ofSeconds(8))
                            .build())
                    .handler(Integer.class, d -> record(d, seed, failRate, 0, successes, orderSeen))
                    .build());
            List<Emitted> emitted = new ArrayList<>();
            for (int i = 0; i < events; i++) {
                String key = "k" + r.nextInt(keys);
                emitted.add(new Emitted(key, i));
                keel.emit("prop.event", key, i).join();
                if (r.nextInt(20) == 0) {
                    keel.process();
                    clock.advance(Duration.ofMillis(r.nextInt(3000)));
                }
            }
            // STRICT serialises a lane behind each failure, so settle by state rather than a fixed count.
            for (int round = 0; round < 20_000 && !settled(keel); round++) {
                keel.process();
                clock.advance(Duration.ofSeconds(2));
            }
            verify(keel, mode, emitted, successes, orderSeen);
        }
    }

    private void checkRunning(long seed, OrderingMode mode) {
        Random r = new Random(seed);
        int lanes = 2 + r.nextInt(3);
        int keys = 2 + r.nextInt(10);
        int events = 300 + r.nextInt(300);
        double failRate = r.nextDouble() * 0.3;
        Map<Integer, AtomicInteger> successes = new ConcurrentHashMap<>();
        Map<String, List<Integer>> orderSeen = new ConcurrentHashMap<>();
        try (Keel keel = Keel.builder().random(new Random(seed)).lanes(lanes).build()) {
            keel.subscribe(Subscription.builder("prop")
                    .types("prop.*")
                    .ordering(mode)
                    .retry(RetryPolicy.builder()
                            .maxAttempts(3)
                            .initialDelay(Duration.ofMillis(1))
                            .maxDelay(Duration.ofMillis(5))
                            .build())
                    .handler(Integer.class, d -> record(d, seed, failRate, 200_000, successes, orderSeen))
                    .build());
            keel.start();
            List<Emitted> emitted = new ArrayList<>();
            for (int i = 0; i < events; i++) {
                String key = "k" + r.nextInt(keys);
                emitted.add(new Emitted(key, i));
                keel.emit("prop.event", key, i).join();
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> {
                long dead = keel.deadLetters().count("prop");
                return successes.size() + dead == events
                        && keel.stats().subscription("prop").pendingDue() == 0;
            });
            verify(keel, mode, emitted, successes, orderSeen);
        }
    }

    /** The handler of both checks: waits a seeded while, fails as {@link #fails} says, records successes. */
    private static void record(
            dev.keel.Delivery<Integer> d,
            long seed,
            double failRate,
            int maxLatencyNanos,
            Map<Integer, AtomicInteger> successes,
            Map<String, List<Integer>> orderSeen)
            throws IOException {
        int i = d.data();
        if (maxLatencyNanos > 0) {
            LockSupport.parkNanos(new Random(seed + i).nextInt(maxLatencyNanos));
        }
        if (fails(seed, i, d.attempt(), failRate)) {
            throw new IOException("random failure");
        }
        successes.computeIfAbsent(i, k -> new AtomicInteger()).incrementAndGet();
        orderSeen
                .computeIfAbsent(d.event().partitionKey(), k -> new CopyOnWriteArrayList<>())
                .add(i);
    }

    private static boolean settled(Keel keel) {
        var s = keel.stats().subscription("prop");
        return s.lag() == 0 && s.pendingDue() == 0 && s.parked() == 0;
    }

    private static void verify(
            Keel keel,
            OrderingMode mode,
            List<Emitted> emitted,
            Map<Integer, AtomicInteger> successes,
            Map<String, List<Integer>> orderSeen) {
        Map<Integer, Integer> deadLettered = new HashMap<>();
        for (DeadLetter d : keel.deadLetters().list(DeadLetterQuery.all())) {
            deadLettered.merge((Integer) d.event().data(), 1, Integer::sum);
        }
        for (Emitted e : emitted) {
            int ok = successes.getOrDefault(e.index(), new AtomicInteger()).get();
            int dead = deadLettered.getOrDefault(e.index(), 0);
            assertThat(ok + dead)
                    .as("event %d (key %s): %d successful deliveries, %d dead letters", e.index(), e.key(), ok, dead)
                    .isEqualTo(1);
        }
        if (mode != OrderingMode.NONE) {
            orderSeen.forEach(
                    (key, seen) -> assertThat(seen).as("order of key %s", key).isSorted());
        }
        assertThat(keel.stats().subscription("prop").parked()).isZero();
    }
}
