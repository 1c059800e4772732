package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.PayloadCompression;
import dev.keel.spi.Append;
import dev.keel.spi.AuditTrail;
import dev.keel.spi.AuditTrail.AuditEntry;
import dev.keel.spi.AuditTrail.AuditPage;
import dev.keel.spi.AuditTrail.AuditQuery;
import dev.keel.spi.AuditTrail.Position;
import dev.keel.spi.Commit;
import dev.keel.spi.Coordination.StoredSubscription;
import dev.keel.spi.DeadLetterStore.ReprocessOrder;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link Journal} engine must have, concern by concern: the log and cursors, dead letters
 * and reprocess requests, and coordination (pauses, leases and fencing, stored subscriptions). An engine's
 * test class extends this and says how to make a fresh, empty journal; the suite opens it with
 * {@link #LANES} lanes and closes it after each test. An engine several runtimes may share also says how to
 * open a second journal on the same store ({@link #sameStore()}), which the tests of concurrent runtimes use.
 */
public abstract class JournalContract {
    /** The lane count the suite opens journals with. */
    protected static final int LANES = 4;

    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    protected Journal journal;

    /** A new, empty journal of the engine under test, not yet opened. */
    protected abstract Journal newJournal() throws Exception;

    /**
     * A second journal on the store of {@link #journal}, as another runtime (another process, for an engine
     * that several share) would open it; not yet opened. An engine only one runtime may use returns the same
     * journal, which two runtimes of one process may share.
     */
    protected Journal sameStore() throws Exception {
        return journal;
    }

    /** Runs the test with a second journal on the same store, opened, and closes it afterwards. */
    private void withSecond(ThrowingConsumer<Journal> test) throws Exception {
        Journal other = sameStore();
        try {
            other.open(LANES);
            test.accept(other);
        } finally {
            if (other != journal) {
                other.close();
            }
        }
    }

    @FunctionalInterface
    private interface ThrowingConsumer<T> {
        void accept(T value) throws Exception;
    }

    @BeforeEach
    void openJournal() throws Exception {
        journal = newJournal();
        journal.open(LANES);
    }

    @AfterEach
    void closeJournal() {
        if (journal != null) {
            journal.close();
        }
    }

    protected static Event<Object> event(String type, String key, Object data) {
        return Event.builder(type, data).key(key).time(T0).build();
    }

    private static Append plain(int lane, Event<?> e) {
        return new Append(lane, e, null, null);
    }

    private List<AppendResult> append(Append... appends) {
        return journal.append(List.of(appends)).join();
    }

    @Test
    void shouldAssignIncreasingSequencesPerLaneStartingAtOne() {
        List<AppendResult> r = append(
                plain(0, event("a.b", "k1", 1)), plain(1, event("a.b", "k2", 2)), plain(0, event("a.b", "k1", 3)));
        assertThat(r).extracting(AppendResult::lane).containsExactly(0, 1, 0);
        assertThat(r).extracting(AppendResult::sequence).containsExactly(1L, 1L, 2L);
        assertThat(r).noneMatch(AppendResult::duplicate);
        assertThat(journal.head(0)).isEqualTo(2);
        assertThat(journal.head(1)).isEqualTo(1);
        assertThat(journal.head(2)).isZero();
    }

    @Test
    void shouldReadALaneInOrderAfterAPosition() {
        for (int i = 1; i <= 10; i++) {
            append(plain(2, event("a.b", "k", i)));
        }
        List<LogRecord> page = journal.read(2, 3, 4);
        assertThat(page).extracting(LogRecord::sequence).containsExactly(4L, 5L, 6L, 7L);
        assertThat(page).extracting(r -> (Object) r.event().data()).containsExactly(4, 5, 6, 7);
        assertThat(page).allMatch(r -> r.lane() == 2);
        assertThat(journal.read(2, 10, 5)).isEmpty();
        assertThat(journal.read(3, 0, 5)).isEmpty();
    }

    @Test
    void shouldKeepEveryEventAttribute() {
        Event<Object> e = Event.<Object>builder("order.created", Map.of("total", 12))
                .key("o-1")
                .source("/shop")
                .subject("orders/o-1")
                .tenant("acme")
                .idempotencyKey("idem-1")
                .correlationId("corr")
                .causationId("cause")
                .depth(3)
                .traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .priority(7)
                .deliverAt(T0.plusSeconds(60))
                .time(T0)
                .build();
        append(plain(1, e));
        Event<?> back = journal.read(1, 0, 1).getFirst().event();
        assertThat(back.id()).isEqualTo(e.id());
        assertThat(back.source()).isEqualTo("/shop");
        assertThat(back.type()).isEqualTo("order.created");
        assertThat(back.subject()).isEqualTo("orders/o-1");
        assertThat(back.partitionKey()).isEqualTo("o-1");
        assertThat(back.tenant()).isEqualTo("acme");
        assertThat(back.idempotencyKey()).isEqualTo("idem-1");
        assertThat(back.correlationId()).isEqualTo("corr");
        assertThat(back.causationId()).isEqualTo("cause");
        assertThat(back.depth()).isEqualTo(3);
        assertThat(back.traceparent()).isEqualTo(e.traceparent());
        assertThat(back.priority()).isEqualTo(7);
        assertThat(back.deliverAt()).isEqualTo(T0.plusSeconds(60));
        assertThat(back.time()).isEqualTo(T0);
    }

    @Test
    void shouldAcceptADedupKeyOnceWithinItsWindow() {
        Instant until = Instant.now().plus(Duration.ofHours(1));
        AppendResult first =
                append(new Append(0, event("a.b", "k", 1), "key-1", until)).getFirst();
        AppendResult again =
                append(new Append(0, event("a.b", "k", 2), "key-1", until)).getFirst();
        AppendResult other =
                append(new Append(0, event("a.b", "k", 3), "key-2", until)).getFirst();
        assertThat(first.duplicate()).isFalse();
        assertThat(again.duplicate()).isTrue();
        assertThat(again.eventId()).isEqualTo(first.eventId());
        assertThat(again.sequence()).isEqualTo(first.sequence());
        assertThat(other.duplicate()).isFalse();
        assertThat(journal.head(0)).isEqualTo(2);
    }

    @Test
    void shouldForgetADedupKeyOnceItsWindowHasPassed() {
        AppendResult first = append(new Append(
                        0, event("a.b", "k", 1), "key-1", Instant.now().minusSeconds(1)))
                .getFirst();
        AppendResult again = append(new Append(
                        0, event("a.b", "k", 2), "key-1", Instant.now().plusSeconds(60)))
                .getFirst();
        assertThat(first.duplicate()).isFalse();
        assertThat(again.duplicate()).isFalse();
        assertThat(journal.head(0)).isEqualTo(2);
    }

    @Test
    void shouldDedupAKeyThatIsNotWellFormedText() {
        // A lone surrogate, as a JSON escape can carry: stored once, a duplicate afterwards.
        Instant until = Instant.now().plus(Duration.ofHours(1));
        String key = "key-\uD800";
        AppendResult first =
                append(new Append(0, event("a.b", "k", 1), key, until)).getFirst();
        AppendResult again =
                append(new Append(0, event("a.b", "k", 2), key, until)).getFirst();
        assertThat(first.duplicate()).isFalse();
        assertThat(first.sequence()).isEqualTo(1);
        assertThat(journal.head(0)).isEqualTo(1);
        assertThat(again.duplicate()).isTrue();
        assertThat(again.sequence()).isEqualTo(first.sequence());
        assertThat(again.eventId()).isEqualTo(first.eventId());
    }

    @Test
    void shouldDedupEveryKeyOfALargeAppend() {
        // More keys than one statement of an engine may claim at once, mixed: stored and live, stored and
        // expired, repeated within the append, and new.
        Instant live = Instant.now().plus(Duration.ofHours(1));
        List<Append> earlier = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            Instant until = i % 2 == 0 ? live : Instant.now().minusSeconds(1);
            earlier.add(new Append(i % 4, event("a.b", "k" + i, i), "key-" + i, until));
        }
        List<AppendResult> stored = journal.append(earlier).join();
        List<Append> later = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            later.add(new Append(i % 4, event("a.b", "k" + i, i), "key-" + (i % 150), live));
        }
        List<AppendResult> r = journal.append(later).join();
        for (int i = 0; i < 200; i++) {
            int key = i % 150;
            AppendResult got = r.get(i);
            if (key < 100 && key % 2 == 0) {
                assertThat(got.duplicate()).as("live stored key %d", key).isTrue();
                assertThat(got.eventId()).isEqualTo(stored.get(key).eventId());
                assertThat(got.lane()).isEqualTo(stored.get(key).lane());
                assertThat(got.sequence()).isEqualTo(stored.get(key).sequence());
            } else if (i >= 150) {
                assertThat(got.duplicate())
                        .as("key %d repeated in the append", key)
                        .isTrue();
                assertThat(got.eventId()).isEqualTo(r.get(key).eventId());
                assertThat(got.sequence()).isEqualTo(r.get(key).sequence());
            } else {
                assertThat(got.duplicate()).as("expired or new key %d", key).isFalse();
                assertThat(got.eventId()).isEqualTo(later.get(i).event().id());
            }
        }
        long fresh = r.stream().filter(x -> !x.duplicate()).count();
        assertThat(fresh).isEqualTo(100); // 50 expired and 50 new keys
        long heads = 0;
        for (int lane = 0; lane < 4; lane++) {
            heads += journal.head(lane);
        }
        assertThat(heads).isEqualTo(100 + fresh);
        // What was claimed in the large append is a duplicate afterwards, with its sequence.
        AppendResult again =
                append(new Append(1, event("a.b", "k", 0), "key-149", live)).getFirst();
        assertThat(again.duplicate()).isTrue();
        assertThat(again.sequence()).isEqualTo(r.get(149).sequence());
        assertThat(again.lane()).isEqualTo(r.get(149).lane());
    }

    @Test
    void shouldHaveNoCursorUntilOneIsCommitted() {
        assertThat(journal.cursor("billing", 0)).isEmpty();
        journal.commit(new Commit("billing", 0, 5, List.of(), List.of(), List.of(), List.of()));
        assertThat(journal.cursor("billing", 0)).hasValue(5);
        assertThat(journal.cursor("billing", 1)).isEmpty();
        assertThat(journal.cursor("shipping", 0)).isEmpty();
        journal.commit(new Commit("billing", 0, Commit.UNCHANGED, List.of(), List.of(), List.of(), List.of()));
        assertThat(journal.cursor("billing", 0)).hasValue(5);
    }

    @Test
    void shouldStoreReplaceAndRemovePendingEntriesInOneCommit() {
        Event<Object> e1 = event("a.b", "k", 1);
        Event<Object> e2 = event("a.b", "k", 2);
        append(plain(0, e1), plain(0, e2));
        AttemptError err = new AttemptError(1, T0, "java.io.IOException", "down");
        Pending head = new Pending("s", 0, 1, "k", false, 1, T0.plusSeconds(1), List.of(err), 0, e1);
        Pending parked = new Pending("s", 0, 2, "k", true, 0, null, List.of(), 0, e2);
        journal.commit(new Commit("s", 0, 2, List.of(head, parked), List.of(), List.of(), List.of()));

        List<Pending> stored = journal.pending("s", 0);
        assertThat(stored).extracting(Pending::sequence).containsExactly(1L, 2L);
        assertThat(stored.getFirst().errors()).containsExactly(err);
        assertThat(stored.getFirst().dueAt()).isEqualTo(T0.plusSeconds(1));
        assertThat(stored.getFirst().event().id()).isEqualTo(e1.id());
        assertThat(stored.get(1).parked()).isTrue();
        assertThat(journal.cursor("s", 0)).hasValue(2);

        Pending promoted = parked.asHead(T0.plusSeconds(2));
        journal.commit(new Commit("s", 0, Commit.UNCHANGED, List.of(promoted), List.of(1L), List.of(), List.of()));
        assertThat(journal.pending("s", 0)).extracting(Pending::sequence).containsExactly(2L);
        assertThat(journal.pending("s", 0).getFirst().parked()).isFalse();
        assertThat(journal.pending("s", 1)).isEmpty();
        assertThat(journal.pending("other", 0)).isEmpty();
    }

    @Test
    void shouldStoreAndQueryDeadLetters() {
        Event<Object> paid = Event.<Object>builder("order.paid", 1)
                .key("o-1")
                .tenant("acme")
                .time(T0)
                .build();
        Event<Object> shipped = Event.<Object>builder("order.shipped", 2)
                .key("o-2")
                .tenant("zen")
                .time(T0)
                .build();
        append(plain(0, paid), plain(1, shipped));
        DeadLetter d1 = deadLetter("dl-1", "billing", 0, paid, "java.io.IOException", T0);
        DeadLetter d2 =
                deadLetter("dl-2", "shipping", 1, shipped, "java.lang.IllegalStateException", T0.plusSeconds(60));
        journal.commit(new Commit("billing", 0, 1, List.of(), List.of(), List.of(d1), List.of()));
        journal.commit(new Commit("shipping", 1, 1, List.of(), List.of(), List.of(d2), List.of()));

        assertThat(journal.deadLetters(DeadLetterQuery.all()))
                .extracting(DeadLetter::id)
                .containsExactly("dl-1", "dl-2");
        assertThat(ids(DeadLetterQuery.all().withSubscription("billing"))).containsExactly("dl-1");
        assertThat(ids(DeadLetterQuery.all().withType("order.shipped"))).containsExactly("dl-2");
        assertThat(ids(DeadLetterQuery.all().withType("order.*"))).containsExactly("dl-1", "dl-2");
        assertThat(ids(DeadLetterQuery.all().withKey("o-1"))).containsExactly("dl-1");
        assertThat(ids(DeadLetterQuery.all().withTenant("zen"))).containsExactly("dl-2");
        assertThat(ids(DeadLetterQuery.all().withErrorType("IOException"))).containsExactly("dl-1");
        assertThat(ids(DeadLetterQuery.all().withOlderThan(T0.plusSeconds(30)))).containsExactly("dl-1");
        assertThat(ids(DeadLetterQuery.all().withNewerThan(T0.plusSeconds(30)))).containsExactly("dl-2");
        assertThat(ids(DeadLetterQuery.all().withLimit(1))).containsExactly("dl-1");
        assertThat(ids(DeadLetterQuery.all().withAfterId("dl-1"))).containsExactly("dl-2");
        assertThat(journal.countDeadLetters("billing")).isEqualTo(1);
        assertThat(journal.countDeadLetters(null)).isEqualTo(2);

        DeadLetter back = journal.deadLetter("dl-1").orElseThrow();
        assertThat(back.errors()).hasSize(1);
        assertThat(back.event().id()).isEqualTo(paid.id());
        assertThat(back.reason()).isEqualTo("gave up");
    }

    @Test
    void shouldListDeadLettersNewestFirstPageByPage() {
        Event<Object> paid =
                Event.<Object>builder("order.paid", 1).key("o-1").time(T0).build();
        append(plain(0, paid));
        List<DeadLetter> billing = new java.util.ArrayList<>();
        List<DeadLetter> shipping = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) { // more than an engine reads at once, with half filtered out
            String id = String.format("dl-%03d", i);
            (i % 2 == 0 ? billing : shipping)
                    .add(deadLetter(id, i % 2 == 0 ? "billing" : "shipping", 0, paid, "X", T0.plusSeconds(i)));
        }
        journal.commit(new Commit("billing", 0, 1, List.of(), List.of(), billing, List.of()));
        journal.commit(new Commit("shipping", 0, 1, List.of(), List.of(), shipping, List.of()));

        DeadLetterQuery newest =
                DeadLetterQuery.all().withSubscription("billing").withLimit(40).withNewestFirst(true);
        assertThat(ids(newest)).startsWith("dl-298", "dl-296").hasSize(40);
        List<String> walked = new java.util.ArrayList<>();
        String after = null;
        while (true) {
            List<String> page = ids(after == null ? newest : newest.withAfterId(after));
            if (page.isEmpty()) {
                break;
            }
            walked.addAll(page);
            after = page.getLast();
        }
        List<String> expected = billing.stream().map(DeadLetter::id).toList().reversed();
        assertThat(walked).containsExactlyElementsOf(expected);
        assertThat(ids(newest.withNewestFirst(false).withLimit(3))).containsExactly("dl-000", "dl-002", "dl-004");
        assertThat(ids(DeadLetterQuery.all()
                        .withNewestFirst(true)
                        .withAfterId("dl-003")
                        .withLimit(5)))
                .containsExactly("dl-002", "dl-001", "dl-000");
    }

    @Test
    void shouldUpdateDeleteAndPurgeDeadLetters() {
        Event<Object> e = event("a.b", "k", 1);
        append(plain(0, e));
        journal.commit(new Commit(
                "s",
                0,
                1,
                List.of(),
                List.of(),
                List.of(
                        deadLetter("dl-1", "s", 0, e, "X", T0),
                        deadLetter("dl-2", "s", 0, e, "X", T0.plusSeconds(100))),
                List.of()));

        assertThat(journal.updateDeadLetter(
                        journal.deadLetter("dl-1").orElseThrow().asPoison()))
                .isTrue();
        assertThat(journal.deadLetter("dl-1").orElseThrow().poison()).isTrue();
        assertThat(journal.updateDeadLetter(deadLetter("nope", "s", 0, e, "X", T0)))
                .isFalse();

        assertThat(journal.purgeDeadLetters(T0.plusSeconds(50))).isEqualTo(1);
        assertThat(journal.deadLetter("dl-1")).isEmpty();
        assertThat(journal.deleteDeadLetter("dl-2")).isTrue();
        assertThat(journal.deleteDeadLetter("dl-2")).isFalse();
        assertThat(journal.countDeadLetters(null)).isZero();
    }

    @Test
    void shouldMoveADeadLetterBackToPendingAtomically() {
        Event<Object> e = event("a.b", "k", 1);
        append(plain(0, e));
        DeadLetter d = deadLetter("dl-1", "s", 0, e, "X", T0);
        journal.commit(new Commit("s", 0, 1, List.of(), List.of(), List.of(d), List.of()));
        Pending replay = new Pending("s", 0, 1, "k", false, 0, T0, d.errors(), 1, e);
        journal.commit(new Commit("s", 0, Commit.UNCHANGED, List.of(replay), List.of(), List.of(), List.of("dl-1")));
        assertThat(journal.deadLetter("dl-1")).isEmpty();
        assertThat(journal.pending("s", 0)).singleElement().satisfies(p -> assertThat(p.replayCount())
                .isEqualTo(1));
    }

    @Test
    void shouldPruneOnlyWhatIsPassedAndOldEnough() {
        for (int i = 1; i <= 6; i++) {
            append(plain(0, event("a.b", "k", i)));
        }
        journal.prune(0, 3, Instant.now().minusSeconds(3600), Instant.now());
        assertThat(journal.read(0, 0, 10)).hasSize(6);
        journal.prune(0, 3, Instant.now().plusSeconds(1), Instant.now());
        assertThat(journal.read(0, 0, 10)).extracting(LogRecord::sequence).containsExactly(4L, 5L, 6L);
        assertThat(journal.head(0)).isEqualTo(6);
        AppendResult next = append(plain(0, event("a.b", "k", 7))).getFirst();
        assertThat(next.sequence()).isEqualTo(7);
    }

    @Test
    void shouldReadFromTheOldestKeptRecordWhenAskedForPrunedOnes() {
        for (int i = 1; i <= 300; i++) {
            append(plain(1, event("a.b", "k", i)));
        }
        journal.prune(1, 290, Instant.now().plusSeconds(1), Instant.now());
        assertThat(journal.read(1, 0, 5)).extracting(LogRecord::sequence).containsExactly(291L, 292L, 293L, 294L, 295L);
        assertThat(journal.read(1, 295, 100))
                .extracting(LogRecord::sequence)
                .containsExactly(296L, 297L, 298L, 299L, 300L);
    }

    @Test
    void shouldAppendFromManyThreadsWithoutLosingOrDuplicatingSequences() throws Exception {
        int threads = 4;
        int perThread = 500;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    for (int i = 0; i < perThread; i++) {
                        append(plain(i % LANES, event("a.b", "t" + id, i)));
                    }
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        long total = 0;
        for (int lane = 0; lane < LANES; lane++) {
            List<LogRecord> all = readAll(journal, lane);
            for (int i = 0; i < all.size(); i++) {
                assertThat(all.get(i).sequence()).isEqualTo(i + 1);
            }
            total += all.size();
        }
        assertThat(total).isEqualTo((long) threads * perThread);
    }

    @Test
    void shouldRefuseALaneThatDoesNotExist() {
        assertThatThrownBy(() -> journal.read(LANES, 0, 1))
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("lane " + LANES);
    }

    // ---- the log and cursors: first cursors, tallies ----

    @Test
    void shouldGiveAFirstCursorOnceAndNeverMoveOneThatExists() {
        assertThat(journal.openCursor("billing", 0, 5)).isEqualTo(5);
        assertThat(journal.cursor("billing", 0)).hasValue(5);
        journal.commit(new Commit("billing", 0, 9, List.of(), List.of(), List.of(), List.of()));
        // A runtime registering the subscription later, at an older head, must not undo the owner's progress.
        assertThat(journal.openCursor("billing", 0, 2)).isEqualTo(9);
        assertThat(journal.cursor("billing", 0)).hasValue(9);
        assertThat(journal.openCursor("billing", 1, 0)).isZero();
    }

    @Test
    void shouldAddUpOutcomeCountsPerSubscriptionOverLanes() {
        assertThat(journal.tally("billing")).isEqualTo(Tally.ZERO);
        journal.commit(commitWithTally("billing", 0, new Tally(3, 2, 1, 1)));
        journal.commit(commitWithTally("billing", 1, new Tally(4, 0, 0, 0)));
        journal.commit(commitWithTally("shipping", 0, new Tally(1, 1, 1, 0)));
        assertThat(journal.tally("billing")).isEqualTo(new Tally(7, 2, 1, 1));
        assertThat(journal.tally("shipping")).isEqualTo(new Tally(1, 1, 1, 0));
    }

    private static Commit commitWithTally(String sub, int lane, Tally tally) {
        return new Commit(sub, lane, 1, List.of(), List.of(), List.of(), List.of(), tally, Commit.NO_FENCE);
    }

    @Test
    void shouldStoreADedupKeyOnceUnderConcurrentAppendsFromTwoRuntimes() throws Exception {
        withSecond(other -> {
            int keys = 40;
            int writers = 4;
            Instant until = Instant.now().plus(Duration.ofHours(1));
            ExecutorService pool = Executors.newFixedThreadPool(writers);
            CountDownLatch go = new CountDownLatch(1);
            try {
                List<Future<List<AppendResult>>> done = new ArrayList<>();
                for (int w = 0; w < writers; w++) {
                    Journal j = w % 2 == 0 ? journal : other;
                    int writer = w;
                    done.add(pool.submit(() -> {
                        go.await();
                        List<AppendResult> mine = new ArrayList<>();
                        for (int k = 0; k < keys; k++) {
                            // Each writer its own batches, in its own key order, so that transactions overlap.
                            int key = writer % 2 == 0 ? k : keys - 1 - k;
                            mine.add(j.append(List.of(new Append(
                                            key % LANES, event("a.b", "k" + key, writer), "key-" + key, until)))
                                    .join()
                                    .getFirst());
                        }
                        return mine;
                    }));
                }
                go.countDown();
                java.util.Map<String, String> winners = new java.util.HashMap<>();
                int stored = 0;
                for (Future<List<AppendResult>> f : done) {
                    for (AppendResult r : f.get()) {
                        if (!r.duplicate()) {
                            stored++;
                        }
                    }
                }
                assertThat(stored).as("one event stored per dedup key").isEqualTo(keys);
                for (Future<List<AppendResult>> f : done) {
                    List<AppendResult> mine = f.get();
                    for (AppendResult r : mine) {
                        String previous = winners.putIfAbsent(r.lane() + "/" + r.sequence(), r.eventId());
                        assertThat(previous == null || previous.equals(r.eventId()))
                                .as("every receipt of a key names the one stored event")
                                .isTrue();
                    }
                }
                long inLog = 0;
                for (int lane = 0; lane < LANES; lane++) {
                    inLog += readAll(journal, lane).size();
                }
                assertThat(inLog).isEqualTo(keys);
            } finally {
                pool.shutdownNow();
            }
        });
    }

    // ---- dead letters: reprocess requests ----

    @Test
    void shouldKeepAReprocessRequestUntilTheDeadLetterIsTakenBack() throws Exception {
        Event<Object> e = event("a.b", "k", 1);
        append(plain(2, e));
        journal.commit(new Commit(
                "s", 2, 1, List.of(), List.of(), List.of(deadLetter("dl-1", "s", 2, e, "X", T0)), List.of()));
        assertThat(journal.requestReprocess("dl-1", T0.plusSeconds(5))).isTrue();
        assertThat(journal.requestReprocess("dl-1", T0.plusSeconds(9))).isTrue(); // asked twice: still one
        assertThat(journal.requestReprocess("nope", T0)).isFalse();
        withSecond(other -> assertThat(other.reprocessOrders(10))
                .containsExactly(new ReprocessOrder("dl-1", "s", 2, T0.plusSeconds(5))));

        Pending replay = new Pending("s", 2, 1, "k", false, 0, T0, List.of(), 1, e);
        journal.commit(new Commit("s", 2, Commit.UNCHANGED, List.of(replay), List.of(), List.of(), List.of("dl-1")));
        assertThat(journal.reprocessOrders(10)).isEmpty();
    }

    @Test
    void shouldDropAReprocessRequestWithItsDeadLetter() {
        Event<Object> e = event("a.b", "k", 1);
        append(plain(0, e));
        journal.commit(new Commit(
                "s",
                0,
                1,
                List.of(),
                List.of(),
                List.of(deadLetter("dl-1", "s", 0, e, "X", T0), deadLetter("dl-2", "s", 0, e, "X", T0)),
                List.of()));
        journal.requestReprocess("dl-1", T0);
        journal.requestReprocess("dl-2", T0);
        journal.deleteDeadLetter("dl-1");
        journal.purgeDeadLetters(T0.plusSeconds(1));
        assertThat(journal.reprocessOrders(10)).isEmpty();
    }

    // ---- coordination: pauses, leases and fencing, stored subscriptions ----

    @Test
    void shouldStorePausesEveryRuntimeSees() throws Exception {
        PauseKey billing = PauseKey.subscription("billing");
        PauseKey gateway = PauseKey.circuit("gateway");
        journal.pause(billing, T0.plusSeconds(60));
        journal.pause(gateway, T0.plusSeconds(10));
        withSecond(other -> {
            assertThat(other.pauses(T0))
                    .containsEntry(billing, T0.plusSeconds(60))
                    .containsEntry(gateway, T0.plusSeconds(10));
            assertThat(other.pauses(T0.plusSeconds(30))).containsOnlyKeys(billing);
            other.pause(billing, null);
        });
        assertThat(journal.pauses(T0)).containsOnlyKeys(gateway);
        journal.pause(gateway, T0.plusSeconds(20)); // replaced, not added
        assertThat(journal.pauses(T0)).containsExactlyEntriesOf(java.util.Map.of(gateway, T0.plusSeconds(20)));
    }

    @Test
    void shouldFenceCommitsWithTheLanesLeaseToken() throws Exception {
        Optional<LaneLeases> leases = journal.leases();
        if (leases.isEmpty()) {
            // A single-instance engine: nothing to fence; commits made without a lease apply.
            journal.commit(new Commit("s", 0, 3, List.of(), List.of(), List.of(), List.of()));
            assertThat(journal.cursor("s", 0)).hasValue(3);
            return;
        }
        withSecond(other -> {
            LaneLeases a = leases.get();
            LaneLeases b = other.leases().orElseThrow();
            LaneLeases.Held first = a.heartbeat("a", Duration.ofSeconds(30));
            assertThat(first.lanes()).hasSize(LANES);
            long stale = first.lanes().get(0);
            journal.commit(fenced("s", 0, 4, stale));
            assertThat(journal.cursor("s", 0)).hasValue(4);

            a.release("a", Set.of(0)); // handed over: b takes lane 0 with a new token
            LaneLeases.Held second = b.heartbeat("b", Duration.ofSeconds(30));
            assertThat(second.lanes()).containsKey(0);
            assertThat(second.lanes().get(0)).isGreaterThan(stale);

            assertThatThrownBy(() -> journal.commit(fenced("s", 0, 9, stale))).isInstanceOf(LeaseLostException.class);
            assertThat(journal.cursor("s", 0))
                    .as("a stale fence writes nothing")
                    .hasValue(4);
            other.commit(fenced("s", 0, 7, second.lanes().get(0)));
            assertThat(journal.cursor("s", 0)).hasValue(7);
            assertThat(a.heartbeat("a", Duration.ofSeconds(30)).lanes()).doesNotContainKey(0);
        });
    }

    private static Commit fenced(String sub, int lane, long cursor, long fence) {
        return new Commit(sub, lane, cursor, List.of(), List.of(), List.of(), List.of(), Tally.ZERO, fence);
    }

    @Test
    void shouldShareStoredSubscriptionsWithEveryRuntime() throws Exception {
        long r1 = journal.saveSubscription("acme/billing", "{\"v\":1}");
        long r2 = journal.saveSubscription("acme/shipping", "{\"v\":1}");
        long r3 = journal.saveSubscription("acme/billing", "{\"v\":2}");
        assertThat(r2).isGreaterThan(r1);
        assertThat(r3).isGreaterThan(r2);
        withSecond(other -> {
            assertThat(other.subscriptions())
                    .extracting(StoredSubscription::key, StoredSubscription::document)
                    .containsExactlyInAnyOrder(
                            org.assertj.core.api.Assertions.tuple("acme/billing", "{\"v\":2}"),
                            org.assertj.core.api.Assertions.tuple("acme/shipping", "{\"v\":1}"));
            assertThat(other.subscriptionsRevision()).isEqualTo(r3);
            long removed = other.deleteSubscription("acme/shipping");
            assertThat(removed).as("a removal takes a revision").isGreaterThan(r3);
            assertThat(other.subscriptionsRevision()).isEqualTo(removed);
            assertThat(other.deleteSubscription("acme/shipping")).isZero();
        });
        assertThat(journal.subscriptions()).extracting(StoredSubscription::key).containsExactly("acme/billing");
        assertThat(journal.subscriptions().getFirst().revision()).isEqualTo(r3);
    }

    /** A document of about 30 KiB of JSON, as compressible as real ones: repeated names, varied values. */
    private static Map<String, Object> document(String id) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("id", id);
        List<Object> lines = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            lines.add(Map.of("sku", "SKU-" + (1000 + i), "name", "Item " + i + " of the catalogue", "quantity", i % 7));
        }
        doc.put("lines", lines);
        return doc;
    }

    @Test
    void shouldReadBackCompressedAndUncompressedEventsEqualWhateverTheSettingWhenRead() throws Exception {
        byte[] bytes = ("a compressible file body; ".repeat(800)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Event<Object> before = event("doc.stored", "d", document("before"));
        append(plain(0, before));
        journal.compressPayloads(PayloadCompression.lz4(1024));
        Event<Object> lz4 = event("doc.stored", "d", document("lz4"));
        Event<Object> small = event("doc.touched", "d", Map.of("id", "small"));
        Event<Object> file = event("file.stored", "d", bytes);
        append(plain(0, lz4), plain(0, small), plain(0, file));
        journal.compressPayloads(PayloadCompression.zstd(1024));
        Event<Object> zstd = event("doc.stored", "d", document("zstd"));
        append(plain(0, zstd));
        journal.compressPayloads(PayloadCompression.NONE);
        Event<Object> after = event("doc.stored", "d", document("after"));
        append(plain(0, after));

        List<Event<?>> written = List.of(before, lz4, small, file, zstd, after);
        List<LogRecord> back = readAll(journal, 0);
        assertThat(back).extracting(r -> r.event().id()).containsExactlyElementsOf(ids(written));
        assertThat(back).extracting(r -> (Object) r.event().data()).containsExactlyElementsOf(datas(written));
        assertThat(back).extracting(r -> r.event().type()).doesNotContain(LogRecord.UNREADABLE_TYPE);
        // Another runtime on the store, told nothing of compression, reads them alike.
        withSecond(other -> assertThat(readAll(other, 0))
                .extracting(r -> (Object) r.event().data())
                .containsExactlyElementsOf(datas(written)));

        // A dead letter carries its event compressed too (engines without tables embed it in their own records).
        journal.compressPayloads(PayloadCompression.lz4(1024));
        journal.commit(new Commit(
                "archive",
                0,
                1,
                List.of(),
                List.of(),
                List.of(deadLetter("dl-big", "archive", 0, lz4, "X", T0)),
                List.of()));
        assertThat(journal.deadLetter("dl-big").orElseThrow().event().data()).isEqualTo(lz4.data());
    }

    private static List<String> ids(List<Event<?>> events) {
        return events.stream().map(Event::id).toList();
    }

    private static List<Object> datas(List<Event<?>> events) {
        return events.stream().map(e -> (Object) e.data()).toList();
    }

    /** Every record of a lane, page by page: a read may return less than asked for while more follow. */
    protected static List<LogRecord> readAll(Journal j, int lane) {
        List<LogRecord> all = new ArrayList<>();
        long after = 0;
        while (true) {
            List<LogRecord> page = j.read(lane, after, 100);
            if (page.isEmpty()) {
                return all;
            }
            all.addAll(page);
            after = page.getLast().sequence();
        }
    }

    private List<String> ids(DeadLetterQuery q) {
        return journal.deadLetters(q).stream().map(DeadLetter::id).toList();
    }

    private static DeadLetter deadLetter(String id, String sub, int lane, Event<?> e, String errorType, Instant at) {
        return new DeadLetter(
                id, sub, lane, 1, e, List.of(new AttemptError(1, at, errorType, "boom")), "gave up", at, 0, false);
    }
    // ---- the audit trail ----

    private AuditTrail auditTrail() {
        Optional<AuditTrail> trail = journal.auditTrail();
        // Every engine keeps the audit trail the server lists: one without it fails here rather than being skipped.
        assertThat(trail).as("this engine's audit trail (Journal.auditTrail())").isPresent();
        return trail.get();
    }

    private static AuditEntry audit(String id, Instant at, String tenant, String action) {
        return new AuditEntry(
                id, at, "token-" + tenant, tenant, action, "billing", "{\"overlap\":\"24h\"}", "10.0.0.7", 200);
    }

    @Test
    void shouldListAuditEntriesNewestFirstInPagesWithoutGapsOrRepeats() {
        AuditTrail trail = auditTrail();
        List<String> written = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            // two entries share each millisecond, so the id orders them
            String id = "0190a000-0000-7000-8000-00000000000" + i;
            trail.append(audit(id, T0.plusMillis(i / 2), "acme", "subscription.create"));
            written.add(id);
        }
        trail.append(audit(written.get(3), T0.plusMillis(1), "acme", "subscription.create"));

        List<AuditEntry> seen = new ArrayList<>();
        AuditPage page = trail.list(AuditQuery.newest(3));
        int pages = 1;
        seen.addAll(page.entries());
        while (page.more()) {
            AuditEntry last = page.entries().getLast();
            page = trail.list(new AuditQuery(null, null, null, null, Position.of(last), 3));
            seen.addAll(page.entries());
            pages++;
        }
        assertThat(pages).isEqualTo(3);
        assertThat(seen).extracting(AuditEntry::id).containsExactlyElementsOf(written.reversed());
        assertThat(seen.getFirst()).isEqualTo(audit(written.get(6), T0.plusMillis(3), "acme", "subscription.create"));
    }

    @Test
    void shouldFilterAuditEntriesByTenantActionAndTime() {
        AuditTrail trail = auditTrail();
        trail.append(audit("0190a000-0000-7000-8000-000000000001", T0, "acme", "subscription.create"));
        trail.append(audit("0190a000-0000-7000-8000-000000000002", T0.plusSeconds(10), "globex", "dlq.purge"));
        trail.append(audit("0190a000-0000-7000-8000-000000000003", T0.plusSeconds(20), "acme", "dlq.purge"));
        trail.append(new AuditEntry(
                "0190a000-0000-7000-8000-000000000004",
                T0.plusSeconds(30),
                "open-mode",
                null,
                "subscription.delete",
                null,
                null,
                null,
                404));

        assertThat(ids(trail, new AuditQuery("acme", null, null, null, null, 10)))
                .containsExactly("0190a000-0000-7000-8000-000000000003", "0190a000-0000-7000-8000-000000000001");
        assertThat(ids(trail, new AuditQuery(null, "dlq.purge", null, null, null, 10)))
                .containsExactly("0190a000-0000-7000-8000-000000000003", "0190a000-0000-7000-8000-000000000002");
        assertThat(ids(trail, new AuditQuery(null, null, T0.plusSeconds(10), T0.plusSeconds(30), null, 10)))
                .containsExactly("0190a000-0000-7000-8000-000000000003", "0190a000-0000-7000-8000-000000000002");
        AuditEntry open = trail.list(AuditQuery.newest(1)).entries().getFirst();
        assertThat(open.tenant()).isNull();
        assertThat(open.target()).isNull();
        assertThat(open.parameters()).isEqualTo("{}");
        assertThat(open.status()).isEqualTo(404);
    }

    @Test
    void shouldPruneAuditEntriesOlderThanTheRetention() {
        AuditTrail trail = auditTrail();
        trail.append(audit("0190a000-0000-7000-8000-000000000001", T0, "acme", "subscription.create"));
        trail.append(audit("0190a000-0000-7000-8000-000000000002", T0.plusSeconds(60), "acme", "dlq.purge"));

        trail.prune(T0.plusSeconds(60));

        assertThat(ids(trail, AuditQuery.newest(10))).containsExactly("0190a000-0000-7000-8000-000000000002");
    }

    private static List<String> ids(AuditTrail trail, AuditQuery q) {
        return trail.list(q).entries().stream().map(AuditEntry::id).toList();
    }
}
