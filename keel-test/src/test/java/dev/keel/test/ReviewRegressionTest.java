package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.DeliveryPausedException;
import dev.keel.DeliveryTimeoutException;
import dev.keel.Keel;
import dev.keel.LoopDetectedException;
import dev.keel.ReprocessRequest;
import dev.keel.RetryPolicy;
import dev.keel.ShutdownReport;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Behaviour pinned down after concurrency and edge-case reviews; each test names what it guards. */
class ReviewRegressionTest {

    @Test
    void aPauseWithoutADurationUsesTheDefaultInsteadOfStrandingTheKey() {
        AtomicInteger calls = new AtomicInteger();
        try (Keel keel = Keel.builder().lanes(1).build()) {
            keel.on("a.b", Object.class, d -> {
                if (calls.incrementAndGet() == 1) {
                    throw new DeliveryPausedException("not yet", null);
                }
            });
            keel.start();
            keel.emit("a.b", "k", 1).join();
            keel.emit("a.b", "k", 2).join();
            await().atMost(Duration.ofSeconds(5)).until(() -> keel.stats().delivered() == 2);
            assertThat(keel.stats().subscriptions().getFirst().failedAttempts()).isZero();
        }
    }

    @Test
    void aTimeoutInterruptsTheHandlerAlsoWhenDrivenByProcess() {
        try (Keel keel = Keel.builder().lanes(1).build()) {
            keel.subscribe(Subscription.builder("slow")
                    .types("a.b")
                    .timeout(Duration.ofMillis(50))
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Object.class, d -> Thread.sleep(10_000))
                    .build());
            keel.emit("a.b", "k", 1).join();
            keel.process();
            assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                    .singleElement()
                    .satisfies(d -> assertThat(d.lastErrorType()).isEqualTo(DeliveryTimeoutException.class.getName()));
            assertThat(Thread.currentThread().isInterrupted()).isFalse();
        }
    }

    @Test
    void theThreadThatReplacesAnAbandonedOneStillHasItsOwnTimeoutsEnforced() {
        CountDownLatch release = new CountDownLatch(1);
        List<Integer> done = new CopyOnWriteArrayList<>();
        try (Keel keel = Keel.builder().lanes(1).build()) {
            keel.subscribe(Subscription.builder("s")
                    .types("a.b")
                    .timeout(Duration.ofMillis(100))
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Integer.class, d -> {
                        switch (d.data()) {
                            case 0 -> {
                                while (release.getCount() > 0) {
                                    try {
                                        release.await();
                                    } catch (InterruptedException ignored) {
                                        // ignores interrupts on purpose
                                    }
                                }
                            }
                            case 1 -> Thread.sleep(10_000); // honours the interrupt
                            default -> done.add(d.data());
                        }
                    })
                    .build());
            keel.start();
            for (int i = 0; i < 3; i++) {
                keel.emit("a.b", "k" + i, i).join();
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> done.contains(2));
            release.countDown();
            await().atMost(Duration.ofSeconds(5)).until(() -> keel.deadLetters().count("s") == 2);
            assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                    .extracting(DeadLetter::lastErrorType)
                    .containsOnly(DeliveryTimeoutException.class.getName());
            assertThat(keel.stats().subscription("s").delivered()).isEqualTo(1);
        }
    }

    @Test
    void closingARuntimeThatNeverStartedReportsWhatWasNotDelivered() {
        Keel keel = Keel.builder().lanes(1).build();
        keel.on("a.b", Object.class, d -> {});
        keel.emit("a.b", "k", 1).join();
        ShutdownReport report = keel.close(Duration.ofSeconds(1));
        assertThat(report.drained()).isFalse();
        assertThat(report.undelivered()).isEqualTo(1);
    }

    @Test
    void aDryRunNeverMarksDeadLettersAsPoison() {
        try (Keel keel = Keel.builder().lanes(1).maxReplays(1).build()) {
            keel.subscribe(Subscription.builder("s")
                    .types("a.b")
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Object.class, d -> {
                        throw new IllegalStateException("always");
                    })
                    .build());
            keel.emit("a.b", "k", 1).join();
            keel.process();
            keel.deadLetters()
                    .reprocess(keel.deadLetters()
                            .list(DeadLetterQuery.all())
                            .getFirst()
                            .id());
            keel.process();
            DeadLetter replayed = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
            assertThat(replayed.replayCount()).isEqualTo(1);
            var dry = keel.deadLetters()
                    .reprocess(ReprocessRequest.of(DeadLetterQuery.all(), 10).asDryRun());
            assertThat(dry.skippedPoison()).containsExactly(replayed.id());
            assertThat(keel.deadLetters().get(replayed.id()).orElseThrow().poison())
                    .isFalse();
        }
    }

    @Test
    void aLoopIsDeadLetteredAtOnceEvenUnderTheDefaultRetryPolicy() {
        try (Keel keel = Keel.builder().lanes(1).maxDepth(2).build()) {
            keel.on("ping", Object.class, d -> keel.emit("ping", "k", 1));
            keel.emit("ping", "k", 1).join();
            keel.process();
            assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                    .singleElement()
                    .satisfies(d -> {
                        assertThat(d.lastErrorType()).isEqualTo(LoopDetectedException.class.getName());
                        assertThat(d.errors()).hasSize(1);
                    });
        }
    }
}
