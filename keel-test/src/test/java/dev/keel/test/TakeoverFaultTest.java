package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.ShutdownReport;
import dev.keel.Subscription;
import dev.keel.memory.MemoryJournal;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A handler that ignores its interrupt is taken over at twice its timeout while the journal is down: the lane
 * goes on once the journal is back, and closing does not wait out its deadline on a dead lane.
 */
class TakeoverFaultTest {

    @Test
    void shouldKeepTheLaneGoingWhenTheJournalFailsDuringATakeOver() throws Exception {
        FailingJournal journal = new FailingJournal(new MemoryJournal());
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicInteger stuckAttempts = new AtomicInteger();
        Keel keel = Keel.builder().lanes(1).journal(journal).build();
        keel.subscribe(Subscription.builder("s")
                .types("job.*")
                .timeout(Duration.ofMillis(200))
                .retry(RetryPolicy.builder()
                        .maxAttempts(5)
                        .initialDelay(Duration.ofMillis(50))
                        .jitter(0)
                        .build())
                .handler(String.class, d -> {
                    if (d.data().equals("stuck") && stuckAttempts.incrementAndGet() == 1) {
                        journal.down.set(true); // the journal goes while the handler hangs
                        long until =
                                System.nanoTime() + Duration.ofMillis(1_200).toNanos();
                        while (System.nanoTime() < until) {
                            try {
                                Thread.sleep(10);
                            } catch (InterruptedException ignored) {
                                // a handler that ignores its interrupt, on purpose
                            }
                        }
                    }
                    seen.add(d.data());
                })
                .build());
        keel.start();
        keel.emit("job.run", "k1", "stuck").join();
        await().atMost(Duration.ofSeconds(5)).until(journal.down::get);
        Thread.sleep(600); // past twice the timeout: taken over while the journal is down
        journal.down.set(false);
        keel.emit("job.run", "k2", "next").join();

        await().atMost(Duration.ofSeconds(15)).until(() -> seen.contains("next") && seen.contains("stuck"));
        ShutdownReport report = keel.close(Duration.ofSeconds(10));
        assertThat(report.drained()).isTrue();
        assertThat(report.undelivered()).isZero();
    }
}
