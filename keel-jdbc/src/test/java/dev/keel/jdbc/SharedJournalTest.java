package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.Receipt;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Two runtimes on one PostgreSQL, as two instances of a service would run: what each may rely on. */
class SharedJournalTest extends WithPostgres {

    private static Keel runtime(String url, Subscription... subscriptions) {
        Keel.Builder b = Keel.builder()
                .lanes(4)
                .leaseDuration(Duration.ofMillis(800))
                .journal(JdbcJournal.postgres(url, server.user(), null));
        for (Subscription s : subscriptions) {
            b.subscription(s);
        }
        return b.build();
    }

    @Test
    void shouldStoreAnIdempotencyKeyOnceWhenTwoRuntimesEmitItAtOnce() throws Exception {
        String url = server.newDatabase();
        int keys = 60;
        try (Keel a = runtime(url);
                Keel b = runtime(url)) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            CountDownLatch go = new CountDownLatch(1);
            try {
                List<Future<List<Receipt>>> done = new ArrayList<>();
                for (int w = 0; w < 4; w++) {
                    Keel k = w % 2 == 0 ? a : b;
                    int writer = w;
                    done.add(pool.submit(() -> {
                        go.await();
                        List<Receipt> mine = new ArrayList<>();
                        for (int i = 0; i < keys; i++) {
                            int key = writer < 2 ? i : keys - 1 - i;
                            mine.add(k.emit(Event.builder("payment.requested", writer)
                                            .key("order-" + key)
                                            .idempotencyKey("pay-" + key)
                                            .build())
                                    .join());
                        }
                        return mine;
                    }));
                }
                go.countDown();
                Map<String, Set<String>> storedIds = new HashMap<>();
                int fresh = 0;
                for (Future<List<Receipt>> f : done) {
                    for (Receipt r : f.get()) {
                        if (!r.duplicate()) {
                            fresh++;
                        }
                        storedIds
                                .computeIfAbsent(r.lane() + "/" + r.sequence(), x -> ConcurrentHashMap.newKeySet())
                                .add(r.eventId());
                    }
                }
                assertThat(fresh).as("receipts saying an event was stored").isEqualTo(keys);
                assertThat(storedIds).hasSize(keys).allSatisfy((position, ids) -> assertThat(ids)
                        .hasSize(1));
            } finally {
                pool.shutdownNow();
            }
            long inLog = 0;
            for (int lane = 0; lane < 4; lane++) {
                long after = 0;
                for (List<dev.keel.spi.LogRecord> page = a.logAccess().read(lane, after, 100);
                        !page.isEmpty();
                        page = a.logAccess().read(lane, after, 100)) {
                    inLog += page.size();
                    after = page.getLast().sequence();
                }
            }
            assertThat(inLog).isEqualTo(keys);
        }
    }

    @Test
    void shouldReprocessOnTheLanesOwnerWhicheverInstanceIsAsked() throws Exception {
        String url = server.newDatabase();
        AtomicBoolean fixed = new AtomicBoolean();
        List<String> delivered = new CopyOnWriteArrayList<>();
        java.util.function.Supplier<Subscription> payments = () -> payments(fixed, delivered);
        try (Keel a = runtime(url, payments.get()).start();
                Keel b = runtime(url, payments.get()).start()) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> a.heldLanes().size() == 2 && b.heldLanes().size() == 2);
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                ids.add(a.emit("payment.requested", "p" + i, i).join().eventId());
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> a.deadLetters().count("payments") == 8);
            fixed.set(true);
            // Each dead letter is asked for on the instance that does not hold its lane.
            for (DeadLetter d : a.deadLetters().list(DeadLetterQuery.all())) {
                Keel notOwner = a.heldLanes().contains(d.lane()) ? b : a;
                notOwner.deadLetters().reprocess(d.id());
            }
            await().atMost(Duration.ofSeconds(15)).until(() -> delivered.size() == 8);
            assertThat(delivered).containsExactlyInAnyOrderElementsOf(ids);
            // A handler returns before its pass commits; the commit is what removes the dead letter.
            await().atMost(Duration.ofSeconds(10)).until(() -> a.deadLetters().count("payments") == 0);
        }
    }

    @Test
    void shouldKeepAReprocessRequestAcrossARestart() throws Exception {
        String url = server.newDatabase();
        AtomicBoolean fixed = new AtomicBoolean();
        List<String> delivered = new CopyOnWriteArrayList<>();
        java.util.function.Supplier<Subscription> payments = () -> payments(fixed, delivered);
        String id;
        try (Keel a = runtime(url, payments.get())) {
            id = a.emit("payment.requested", "p", 1).join().eventId();
            a.process();
            DeadLetter d = a.deadLetters().list(DeadLetterQuery.all()).getFirst();
            // Asked, then the runtime goes before it delivers anything.
            a.deadLetters().reprocess(d.id());
        }
        fixed.set(true);
        try (Keel again = runtime(url, payments.get()).start()) {
            await().atMost(Duration.ofSeconds(15)).until(() -> delivered.contains(id));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> again.deadLetters().count("payments") == 0);
        }
    }

    @Test
    void shouldKeepRenewingItsLeasesWhileALaneItGivesBackIsBusy() throws Exception {
        String url = server.newDatabase();
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch blocked = new CountDownLatch(1);
        List<String> seen = new CopyOnWriteArrayList<>();
        java.util.function.Supplier<Subscription> slow = () -> Subscription.builder("slow")
                .types("job.*")
                .timeout(null)
                .handler(Object.class, d -> {
                    if (d.event().type().equals("job.stuck")) {
                        blocked.countDown();
                        release.await();
                    }
                    seen.add(d.event().id());
                })
                .build();
        try (Keel a = runtime(url, slow.get()).start()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> a.heldLanes().size() == 4);
            // Every lane of A is busy with a handler that does not return until the end of the test.
            for (int lane = 0; lane < 4; lane++) {
                a.emit(Event.builder("job.stuck", lane).key(keyFor(lane)).build())
                        .join();
            }
            assertThat(blocked.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            try (Keel b = runtime(url, slow.get()).start()) {
                try {
                    // B joins: A gives lanes back, whose handlers are still running; its heartbeat must go on.
                    long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
                    while (System.nanoTime() < until) {
                        assertThat(a.heldLanes())
                                .as("the lanes A delivers while B joins")
                                .isNotEmpty();
                        Thread.sleep(50);
                    }
                    await().atMost(Duration.ofSeconds(10))
                            .until(() ->
                                    a.heldLanes().size() == 2 && b.heldLanes().size() == 2);
                } finally {
                    release.countDown();
                }
            } finally {
                release.countDown();
            }
        }
    }

    /** Payments that fail for good until {@code fixed}, then record the events they receive. */
    private static Subscription payments(AtomicBoolean fixed, List<String> delivered) {
        return Subscription.builder("payments")
                .types("payment.*")
                .handler(Object.class, d -> {
                    if (!fixed.get()) {
                        throw new PermanentFailureException("the account is closed");
                    }
                    delivered.add(d.event().id());
                })
                .build();
    }

    /** A key whose events go to the lane, among 4. */
    private static String keyFor(int lane) {
        for (int i = 0; ; i++) {
            if (dev.keel.Lanes.of("k" + i, 4) == lane) {
                return "k" + i;
            }
        }
    }
}
