package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Commit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A journal with a commit interval lets a busy subscription's passes share commits: every kind of outcome, not
 * only cursor advances. What waits is committed once the lane has nothing left to do.
 */
class CommitIntervalTest {
    private static final int EVENTS = 2_000;

    /** The memory engine with a long commit interval, recording each commit it stores. */
    private static final class SlowCommits extends FailingJournal {
        final List<Commit> commits = new CopyOnWriteArrayList<>();
        private final Duration interval;

        SlowCommits(Duration interval) {
            super(new MemoryJournal());
            this.interval = interval;
        }

        @Override
        public Duration commitInterval() {
            return interval;
        }

        @Override
        public void commit(Commit commit) {
            super.commit(commit);
            commits.add(commit);
        }
    }

    @Test
    void shouldShareCommitsAmongPassesWithRetriesAndDeadLettersAndStoreThemWhenIdle() {
        SlowCommits journal = new SlowCommits(Duration.ofSeconds(5));
        Map<Integer, Integer> attempts = new ConcurrentHashMap<>();
        AtomicInteger delivered = new AtomicInteger();
        try (Keel keel = Keel.builder().lanes(1).batchSize(16).journal(journal).build()) {
            keel.start();
            keel.subscribe(Subscription.builder("jobs")
                    .types("job.*")
                    .retry(RetryPolicy.builder()
                            .maxAttempts(2)
                            .initialDelay(Duration.ofMillis(1))
                            .jitter(0)
                            .build())
                    .handler(Integer.class, d -> {
                        int i = d.data();
                        int attempt = attempts.merge(i, 1, Integer::sum);
                        if (i % 400 == 7) {
                            throw new IllegalStateException("always fails: " + i); // 5 dead letters
                        }
                        if (i % 10 == 3 && attempt == 1) {
                            throw new IllegalStateException("fails once: " + i); // 200 retries
                        }
                        delivered.incrementAndGet();
                    })
                    .build());
            // All in one append, so that the lane has plenty to do from the start.
            List<Event<?>> batch = new ArrayList<>();
            for (int i = 0; i < EVENTS; i++) {
                batch.add(Event.builder("job.run", i).key("k-" + (i % 50)).build());
            }
            keel.emitBatch(batch).join();

            await().atMost(Duration.ofSeconds(30)).until(delivered::get, n -> n == EVENTS - 5);
            // Idle now: what the passes held back is stored.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> journal.cursor("jobs", 0)
                                    .equals(OptionalLong.of(keel.logAccess().head(0)))
                            && journal.pending("jobs", 0).isEmpty()
                            && keel.deadLetters().list(DeadLetterQuery.all()).size() == 5);

            int failures = 200 + 5 * 2; // each always-failing event fails twice
            assertThat(journal.commits.stream()
                            .mapToLong(c -> c.tally().failedAttempts())
                            .sum())
                    .isEqualTo(failures);
            assertThat(journal.commits.stream()
                            .mapToInt(c -> c.deadLetters().size())
                            .sum())
                    .isEqualTo(5);
            // Committing each pass with a failure takes over a hundred commits (125 passes of 16 events, four in
            // five with a failure, and the retries' passes); shared, they take a few dozen (the lane commits
            // whenever it runs out of work, which waiting retries make it do now and then).
            assertThat(journal.commits.size()).as("commits").isLessThan(100);
        }
    }

    @Test
    void shouldCommitWhatWaitedTheIntervalInTheMiddleOfASlowPass() {
        SlowCommits journal = new SlowCommits(Duration.ofMillis(300));
        List<Integer> sawTheDeadLetterStored = new CopyOnWriteArrayList<>();
        AtomicInteger slowDone = new AtomicInteger();
        try (Keel keel = Keel.builder().lanes(1).journal(journal).build()) {
            keel.start();
            keel.subscribe(Subscription.builder("slow")
                    .types("job.*")
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Integer.class, d -> {
                        if (d.data() == 0) {
                            throw new IllegalStateException("fails for good");
                        }
                        if (!keel.deadLetters().list(DeadLetterQuery.all()).isEmpty()) {
                            sawTheDeadLetterStored.add(d.data());
                        }
                        Thread.sleep(30);
                        slowDone.incrementAndGet();
                    })
                    .build());
            List<Event<?>> batch = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                batch.add(Event.builder("job.run", i).key("k-" + i).build());
            }
            keel.emitBatch(batch).join(); // one pass of 40 deliveries, 1.2 s long

            await().atMost(Duration.ofSeconds(30)).until(slowDone::get, n -> n == 39);
            // Stored a little after the 300 ms interval, not when the pass ended: most deliveries saw it.
            assertThat(sawTheDeadLetterStored).hasSizeGreaterThan(20);
        }
    }
}
