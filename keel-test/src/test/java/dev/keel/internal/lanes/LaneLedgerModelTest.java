package dev.keel.internal.lanes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.LogRecord;
import dev.keel.test.TestClock;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The lane ledger against a reference model, over seeded random runs: random events over a few keys, a
 * random retry budget, an oracle that fails some attempts, random batch sizes, events arriving between
 * passes, restarts from what was committed and crashes that lose what was not. The model is the rule itself:
 * per ordering scope (the key, the lane, or the event), events are tried in log order, each until it succeeds
 * or its attempts run out, before the next of the scope. A failing seed is printed; rerun it by number.
 */
class LaneLedgerModelTest {
    private static final int RUNS = 300;
    private static final Duration DELAY = Duration.ofSeconds(1);

    /** One run's settings, all drawn from its seed. */
    private record Run(long seed, OrderingMode ordering, int maxAttempts, int events, int keys, boolean crashes) {}

    /** What happened to one event: its attempts in order, and whether it ended delivered or dead-lettered. */
    private record Fate(List<Integer> attempts, boolean delivered) {}

    @Test
    void shouldMatchTheModelOverSeededRandomRuns() {
        for (long seed = 1; seed <= RUNS; seed++) {
            Random r = new Random(seed);
            Run run = new Run(
                    seed,
                    OrderingMode.values()[r.nextInt(3)],
                    1 + r.nextInt(4),
                    1 + r.nextInt(60),
                    1 + r.nextInt(5),
                    r.nextInt(3) == 0);
            try {
                check(run, new Random(seed * 31 + 7));
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("seed " + seed + " failed: " + run + ": " + e.getMessage(), e);
            }
        }
    }

    /** Fails attempt {@code attempt} of an event by a hash of the run's seed: the model and the driver agree. */
    private static boolean fails(long seed, String id, int attempt) {
        long h = (seed * 1_000_003L) ^ id.hashCode() * 31L ^ attempt * 7_919L;
        h ^= h >>> 17;
        h *= 0x9E3779B97F4A7C15L;
        return ((h >>> 33) % 3) == 0;
    }

    private static String scopeOf(OrderingMode ordering, Event<?> e) {
        return switch (ordering) {
            case STRICT -> "";
            case PER_KEY -> e.orderingKey();
            case NONE -> e.id();
        };
    }

    private void check(Run run, Random r) {
        List<Event<?>> events = new ArrayList<>();
        for (int i = 0; i < run.events(); i++) {
            events.add(Event.builder("order.placed", i)
                    .id("e" + i)
                    .key("k" + r.nextInt(run.keys()))
                    .build());
        }
        Map<String, Fate> expected = model(run, events);

        TestClock clock = TestClock.create();
        MemoryJournal store = new MemoryJournal(clock);
        store.open(1);
        AtomicLong deadLetterIds = new AtomicLong();
        RetryPolicy policy = RetryPolicy.builder()
                .maxAttempts(run.maxAttempts())
                .initialDelay(DELAY)
                .multiplier(1)
                .jitter(0)
                .build();
        java.util.function.Supplier<LaneLedger> fresh = () -> new LaneLedger(
                "s",
                0,
                run.ordering(),
                e -> true,
                type -> policy,
                new Random(run.seed()),
                () -> String.format("dl-%08d", deadLetterIds.incrementAndGet()),
                clock);
        LaneLedger ledger = fresh.get();
        ledger.reset(store.openCursor("s", 0, 0), store.pending("s", 0));

        Map<String, List<Integer>> attempts = new LinkedHashMap<>();
        Map<String, List<String>> deliveredByScope = new LinkedHashMap<>();
        int appended = 0;
        int rounds = 0;
        while (true) {
            if (++rounds > 100_000) {
                throw new AssertionError("no end after " + rounds + " passes");
            }
            if (appended < events.size() && (r.nextInt(3) > 0 || ledger.nextDue() == null)) {
                int n = 1 + r.nextInt(Math.min(8, events.size() - appended));
                for (int i = 0; i < n; i++) {
                    store.append(new Append(0, events.get(appended++), null, null))
                            .join();
                }
            }
            int batch = 1 + r.nextInt(8);
            ledger.beginPass();
            for (LaneLedger.Step step = ledger.next(); step != LaneLedger.Step.END; step = ledger.next()) {
                if (step == LaneLedger.Step.READ) {
                    List<LogRecord> records = store.read(0, ledger.readAfter(), batch);
                    ledger.admit(records);
                    continue;
                }
                LaneLedger.Attempt a = ledger.attempt();
                String id = a.event().id();
                attempts.computeIfAbsent(id, k -> new ArrayList<>()).add(a.attempt());
                boolean failed = fails(run.seed(), id, a.attempt());
                if (!failed) {
                    deliveredByScope
                            .computeIfAbsent(scopeOf(run.ordering(), a.event()), k -> new ArrayList<>())
                            .add(id);
                }
                ledger.record(failed ? new Outcome.Failure(new IOException("no " + a.attempt())) : Outcome.SUCCESS);
            }
            if (run.crashes() && r.nextInt(5) == 0) {
                // Crash: what was not committed is lost; a new ledger starts from the store.
                ledger = fresh.get();
                ledger.reset(store.cursor("s", 0).orElseThrow(), store.pending("s", 0));
            } else {
                Commit c = ledger.takeCommit(Commit.NO_FENCE);
                if (c != null) {
                    store.commit(c);
                    ledger.committed();
                }
                if (r.nextInt(7) == 0) {
                    // Restart after a commit: nothing is lost.
                    ledger = fresh.get();
                    ledger.reset(store.cursor("s", 0).orElseThrow(), store.pending("s", 0));
                }
            }
            boolean caughtUp = appended == events.size() && ledger.cursor() == store.head(0) && !ledger.hasChanges();
            if (caughtUp && ledger.nextDue() == null) {
                break;
            }
            if (ledger.nextDue() != null && ledger.nextDue().isAfter(clock.instant()) && appended == events.size()) {
                clock.set(ledger.nextDue());
            }
        }

        List<DeadLetter> dead = store.deadLetters(DeadLetterQuery.all().withLimit(1_000));
        Map<String, Boolean> outcome = new TreeMap<>();
        for (DeadLetter d : dead) {
            assertThat(outcome.put(d.event().id(), false))
                    .as("dead-lettered twice: " + d.event().id())
                    .isNull();
            assertThat(d.errors())
                    .hasSize(run.maxAttempts() == 1 ? 1 : d.errors().size());
        }
        for (List<String> ids : deliveredByScope.values()) {
            for (String id : ids) {
                outcome.putIfAbsent(id, true);
            }
        }
        Map<String, Boolean> expectedOutcome = new TreeMap<>();
        expected.forEach((id, fate) -> expectedOutcome.put(id, fate.delivered()));
        assertThat(outcome)
                .as("each event ends delivered (true) or dead-lettered (false)")
                .isEqualTo(expectedOutcome);
        assertThat(store.pending("s", 0)).as("nothing left pending").isEmpty();

        // Per scope, the order in which events were first delivered is the model's.
        Map<String, List<String>> expectedOrder = new LinkedHashMap<>();
        for (Event<?> e : events) {
            if (expected.get(e.id()).delivered()) {
                expectedOrder
                        .computeIfAbsent(scopeOf(run.ordering(), e), k -> new ArrayList<>())
                        .add(e.id());
            }
        }
        Map<String, List<String>> firstDeliveries = new LinkedHashMap<>();
        deliveredByScope.forEach((scope, ids) ->
                firstDeliveries.put(scope, ids.stream().distinct().toList()));
        assertThat(firstDeliveries).isEqualTo(expectedOrder);
        if (!run.crashes()) {
            // Without crashes nothing is repeated: every attempt is the model's, once.
            Map<String, List<Integer>> expectedAttempts = new TreeMap<>();
            expected.forEach((id, fate) -> expectedAttempts.put(id, fate.attempts()));
            assertThat(new TreeMap<>(attempts)).isEqualTo(expectedAttempts);
            for (List<String> ids : deliveredByScope.values()) {
                assertThat(ids).doesNotHaveDuplicates();
            }
        }
    }

    /** The rule: each event tried until it succeeds or its attempts run out. */
    private static Map<String, Fate> model(Run run, List<Event<?>> events) {
        Map<String, Fate> fates = new LinkedHashMap<>();
        for (Event<?> e : events) {
            List<Integer> tried = new ArrayList<>();
            boolean delivered = false;
            for (int attempt = 1; attempt <= run.maxAttempts(); attempt++) {
                tried.add(attempt);
                if (!fails(run.seed(), e.id(), attempt)) {
                    delivered = true;
                    break;
                }
            }
            fates.put(e.id(), new Fate(tried, delivered));
        }
        return fates;
    }
}
