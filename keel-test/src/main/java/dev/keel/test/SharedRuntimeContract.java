package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.spi.Journal;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The runtime on an engine several instances share (Kafka, Redis), through its public API: a failing key parked while
 * the rest of its lane flows (and the whole lane held, or nothing, in the other ordering modes), a retry that
 * outlives the runtime that scheduled it, lanes handed between two runtimes
 * in key order, and appends with idempotency keys kept in emit order. An engine's test class extends this and says
 * how to open a journal on a named store; the JDBC engines prove the same in their own suites.
 */
public abstract class SharedRuntimeContract {
    private static final AtomicInteger STORES = new AtomicInteger();

    /** A new, unopened journal on the store of that name (a topic, a key prefix); two with one name share it. */
    protected abstract Journal journal(String store);

    /** A store name no earlier test used. */
    protected static String newStore() {
        return "runtime-" + STORES.incrementAndGet();
    }

    /** A runtime of 4 lanes on the store, with 2 s leases, meters in the registry, and the subscriptions. */
    protected Keel keel(String store, MeterRegistry registry, Subscription... subs) {
        Keel.Builder b = Keel.builder()
                .meterRegistry(registry)
                .lanes(4)
                .leaseDuration(Duration.ofSeconds(2))
                .journal(journal(store));
        for (Subscription s : subs) {
            b.subscription(s);
        }
        return b.build();
    }

    protected Keel keel(String store, Subscription... subs) {
        return keel(store, new SimpleMeterRegistry(), subs);
    }

    protected static RetryPolicy retries(int attempts, Duration delay) {
        return RetryPolicy.builder().maxAttempts(attempts).initialDelay(delay).build();
    }

    private static double laneChanges(MeterRegistry registry, String direction) {
        var c = registry.find("keel.lane.changes").tag("direction", direction).counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void shouldParkOnlyTheFailingKeyWhileOtherKeysOfItsLaneFlow() {
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicInteger failures = new AtomicInteger();
        Subscription sub = Subscription.builder("billing")
                .types("order.*")
                .retry(retries(5, Duration.ofMillis(100)))
                .handler(String.class, d -> {
                    if (d.data().equals("bad-1") && failures.getAndIncrement() < 2) {
                        throw new IllegalStateException("gateway down");
                    }
                    seen.add(d.data());
                })
                .build();
        try (Keel keel = keel(newStore(), sub)) {
            keel.start();
            keel.emit("order.placed", "bad", "bad-1").join();
            keel.emit("order.placed", "bad", "bad-2").join();
            for (int i = 0; i < 20; i++) {
                keel.emit("order.placed", "good-" + i, "good-" + i).join();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 22);
        }
        assertThat(seen.indexOf("bad-1")).isLessThan(seen.indexOf("bad-2"));
        assertThat(failures.get()).isEqualTo(3); // two failures, then the success's check
        // Events of other keys did not wait for the parked key: some were delivered before it.
        assertThat(seen.indexOf("bad-1")).isGreaterThan(0);
    }

    /**
     * STRICT: a failing event holds its whole lane until it succeeds, so every later event of the lane (whatever
     * its key) comes after it. NONE: a failing event is retried on its own, and the next event of its own key does
     * not wait for it. One lane, so that every event shares it.
     */
    @Test
    void shouldHoldTheWholeLaneWhenStrictAndNothingWhenUnordered() {
        for (dev.keel.OrderingMode mode : List.of(dev.keel.OrderingMode.STRICT, dev.keel.OrderingMode.NONE)) {
            List<String> seen = new CopyOnWriteArrayList<>();
            AtomicInteger failures = new AtomicInteger();
            Subscription sub = Subscription.builder("ordered")
                    .types("order.*")
                    .ordering(mode)
                    .retry(retries(5, Duration.ofMillis(300)))
                    .handler(String.class, d -> {
                        if (d.data().equals("bad-1") && failures.getAndIncrement() < 2) {
                            throw new IllegalStateException("gateway down");
                        }
                        seen.add(d.data());
                    })
                    .build();
            Keel.Builder b =
                    Keel.builder().lanes(1).leaseDuration(Duration.ofSeconds(2)).journal(journal(newStore()));
            try (Keel keel = b.subscription(sub).build()) {
                keel.start();
                keel.emit("order.placed", "bad", "bad-1").join();
                keel.emit("order.placed", "bad", "bad-2").join();
                keel.emit("order.placed", "other", "other-1").join();
                await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 3);
            }
            if (mode == dev.keel.OrderingMode.STRICT) {
                assertThat(seen).as("STRICT").containsExactly("bad-1", "bad-2", "other-1");
            } else {
                assertThat(seen.indexOf("bad-2"))
                        .as("NONE: its own key did not wait")
                        .isLessThan(seen.indexOf("bad-1"));
                assertThat(seen.indexOf("other-1")).as("NONE").isLessThan(seen.indexOf("bad-1"));
            }
        }
    }

    @Test
    void shouldDeliverARetryThatWasPendingWhenTheRuntimeStopped() {
        String store = newStore();
        AtomicInteger attempts = new AtomicInteger();
        List<String> done = new CopyOnWriteArrayList<>();
        Subscription first = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5, Duration.ofSeconds(3)))
                .handler(String.class, d -> {
                    attempts.incrementAndGet();
                    throw new IllegalStateException("not yet");
                })
                .build();
        try (Keel keel = keel(store, first)) {
            keel.start();
            keel.emit("doc.saved", "d-1", "d-1").join();
            await().atMost(Duration.ofSeconds(20)).until(() -> attempts.get() >= 1);
        }
        // The retry is in the store: a new runtime on it delivers it.
        Subscription second = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5, Duration.ofMillis(100)))
                .handler(String.class, d -> done.add(d.data() + "@" + d.attempt()))
                .build();
        try (Keel keel = keel(store, second)) {
            keel.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> !done.isEmpty());
        }
        assertThat(done)
                .singleElement()
                .satisfies(s -> assertThat(s).startsWith("d-1@").isNotEqualTo("d-1@1"));
    }

    @Test
    void shouldShareTheLanesBetweenTwoRuntimesInKeyOrder() {
        String store = newStore();
        Map<String, List<Integer>> byKey = new ConcurrentHashMap<>();
        Map<String, Set<Integer>> lanesBy = new ConcurrentHashMap<>();
        List<Keel> runtimes = new ArrayList<>();
        Map<String, MeterRegistry> meters = new HashMap<>();
        double[] changes = new double[3];
        try {
            for (String name : List.of("a", "b")) {
                meters.put(name, new SimpleMeterRegistry());
                Keel k = keel(
                        store,
                        meters.get(name),
                        Subscription.builder("counter")
                                .types("tick")
                                .handler(Integer.class, d -> {
                                    byKey.computeIfAbsent(d.event().partitionKey(), x -> new CopyOnWriteArrayList<>())
                                            .add(d.data());
                                    lanesBy.computeIfAbsent(name, x -> ConcurrentHashMap.newKeySet())
                                            .add(d.lane());
                                })
                                .build());
                k.start();
                runtimes.add(k);
            }
            // Once b holds lanes a gave up, both deliver.
            await().atMost(Duration.ofSeconds(30)).until(() -> laneChanges(meters.get("b"), "gained") > 0);
            for (int i = 0; i < 400; i++) {
                runtimes.get(i % 2).emit("tick", "k" + (i % 10), i).join();
            }
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> byKey.values().stream().mapToInt(List::size).sum() >= 400);
            // A lane a gave back counts as lost at once, and as gained by b at b's next heartbeat.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> laneChanges(meters.get("b"), "gained") == laneChanges(meters.get("a"), "lost"));
            changes[0] = laneChanges(meters.get("a"), "gained");
            changes[1] = laneChanges(meters.get("a"), "lost");
            changes[2] = laneChanges(meters.get("b"), "gained");
        } finally {
            runtimes.forEach(Keel::close);
        }
        byKey.forEach(
                (key, values) -> assertThat(values).as("key %s in order", key).isSorted());
        assertThat(byKey.values().stream().mapToInt(List::size).sum()).isEqualTo(400);
        assertThat(lanesBy).as("both runtimes delivered lanes").hasSize(2);
        // Every lane was gained once by a, and the ones b took over were lost by a and gained by b.
        assertThat(changes[0]).isEqualTo(4);
        assertThat(changes[2]).isPositive().isEqualTo(changes[1]);
    }

    @Test
    void shouldKeepTheOrderOfAppendsWithIdempotencyKeysSentWithoutWaiting() {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        try (Keel keel = keel(
                newStore(),
                Subscription.builder("ordered")
                        .types("step")
                        .handler(Integer.class, d -> seen.add(d.data()))
                        .build())) {
            keel.start();
            List<CompletableFuture<?>> sent = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                // One key, each with its own idempotency key, none awaited before the next: the claims of several
                // appends are in flight at once, and their order must still be the order of the emits.
                sent.add(keel.emit(Event.builder("step", (Object) i)
                        .key("one-key")
                        .idempotencyKey("step-" + i)
                        .build()));
            }
            sent.forEach(CompletableFuture::join);
            // The same keys again: all duplicates, nothing new stored.
            for (int i = 0; i < 300; i++) {
                assertThat(keel.emit(Event.builder("step", (Object) i)
                                        .key("one-key")
                                        .idempotencyKey("step-" + i)
                                        .build())
                                .join()
                                .duplicate())
                        .isTrue();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 300);
        }
        assertThat(seen).isSorted().hasSize(300);
    }
}
