package dev.keel;

import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.LogRecord;
import dev.keel.spi.Pending;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Timer;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers one lane to one subscription, in order. It owns the subscription's state on that lane: the
 * cursor, and the pending entries grouped by ordering scope (the head of a scope waits for its due time; the
 * rest are parked behind it). All outcomes of a pass are committed to the journal in one atomic step.
 *
 * <p>Ownership: one thread at a time runs a pass (it holds {@code runner}) and only that thread touches the
 * state, so the hot path takes no lock. Other threads read volatile summaries published at the end of each
 * pass. The one hand-over is the watchdog's: when a handler overruns its timeout it is interrupted, and if it
 * is still running at twice the timeout the watchdog claims its in-flight slot by CAS. Whoever wins that CAS
 * owns the state: the watchdog fails the delivery, commits, and starts a fresh runner; the stuck thread, when
 * it returns, sees it lost the slot and leaves without touching anything.
 */
final class LaneWorker {
    private static final Logger log = LoggerFactory.getLogger(LaneWorker.class);
    private static final Duration COMMIT_BACKOFF = Duration.ofSeconds(1);
    private static final long ABANDONED = Long.MIN_VALUE;
    private static final String[] OUTCOMES = {"success", "retry", "dead_letter", "paused"};
    private static final Comparator<Pending> BY_DUE =
            Comparator.comparing(Pending::dueAt).thenComparingLong(Pending::sequence);
    private static final Comparator<Pending> BY_PRIORITY = Comparator.<Pending>comparingInt(
                    p -> -p.event().priority())
            .thenComparing(Pending::dueAt)
            .thenComparingLong(Pending::sequence);

    private enum Outcome {
        SUCCESS,
        FAILED,
        PAUSED,
        LOST
    }

    private record Result(Outcome outcome, Throwable error, Duration pause) {}

    private static final Result SUCCESS = new Result(Outcome.SUCCESS, null, null);
    private static final Result LOST = new Result(Outcome.LOST, null, null);

    /** The meters of one event type for a subscription. */
    record TypeMeters(String type, Counter[] counters, Timer timer) {}

    final Keel keel;
    final SubscriptionState sub;
    final int lane;
    private final Journal journal;
    private final String name;
    private final OrderingMode ordering;
    private final Duration timeout;
    private final Class<?> payloadType;

    private final AtomicInteger runner = new AtomicInteger();
    private volatile Thread runnerThread;
    private volatile boolean retired;
    private volatile boolean needsLoad;
    private static final Duration MAX_RETRY_DELAY = Duration.ofDays(365);
    private volatile int generation = 1;

    // ---- owner-confined state ----
    private long newCursor = Commit.UNCHANGED;
    private final HashMap<String, ArrayDeque<Pending>> scopes = new HashMap<>();
    private final PriorityQueue<Pending> heads = new PriorityQueue<>(BY_DUE);
    private final HashSet<Long> pendingSeqs = new HashSet<>();
    private final LinkedHashMap<Long, Pending> upserts = new LinkedHashMap<>();
    private final HashSet<Long> removals = new HashSet<>();
    private final List<DeadLetter> newDeadLetters = new ArrayList<>();
    private final List<String> removedDeadLetters = new ArrayList<>();
    private List<LogRecord> batch = List.of();
    private int batchIndex;
    private boolean batchReordered;
    private long batchLastSeq;
    private LogRecord currentRecord;
    private Pending currentPending;
    private TypeMeters meters;
    private boolean paused;
    private long pausedUntil;
    private DeliveryScope passScope;
    private long lastCommitNanos;
    private final long commitIntervalNanos;
    private long stampSeq;
    private static final long STAMP_SEQ_MASK = 0xFFFF;

    // ---- summaries for other threads, published at the end of each pass ----
    volatile long cursor;
    /** Successful deliveries, published by {@link #publish()}; the runner counts in {@code deliveredCount}. */
    volatile long delivered;

    private long deliveredCount;
    private String lastType;
    private boolean lastTypeMatches;

    volatile int dueCount;
    volatile int parkedCount;
    private volatile long minPendingSeq = Long.MAX_VALUE;
    private volatile Instant nextDue;
    private volatile long pausedUntilSummary;

    final ConcurrentLinkedQueue<DeadLetter> reprocessRequests = new ConcurrentLinkedQueue<>();

    // ---- the in-flight slot: 0 idle, s > 0 running since s, -s timed out, ABANDONED taken over ----
    private final AtomicLong slot = new AtomicLong();
    /** When the delivery in flight started (the runtime's coarse clock), 0 when none is; without a timeout only. */
    private volatile long deliveringSince;

    private volatile Thread inflightThread;
    private volatile boolean interruptSent;
    private volatile long warnedFor;

    volatile Thread thread;
    volatile boolean sleeping;

    LaneWorker(Keel keel, SubscriptionState sub, int lane) {
        this.keel = keel;
        this.sub = sub;
        this.lane = lane;
        this.journal = keel.journal();
        this.name = sub.name;
        this.ordering = sub.subscription.policy().ordering();
        this.timeout = sub.subscription.policy().timeout();
        this.payloadType = sub.subscription.payloadType();
        this.commitIntervalNanos = keel.journal().commitInterval().toNanos();
    }

    /** Loads the cursor and the pending entries; a subscription new to the journal starts at the head. */
    void load() {
        if (sub.subscription.ephemeral()) {
            long head = journal.head(lane);
            clearState();
            cursor = head;
            publish();
            return;
        }
        // Read everything first: if the journal fails here, the state in memory stays as it was.
        var stored = journal.cursor(name, lane);
        List<Pending> all = journal.pending(name, lane);
        if (stored.isPresent()) {
            clearState();
            cursor = stored.getAsLong();
        } else {
            // New to this journal: it starts at the head, and says so at once, so that a restart before its
            // first delivery resumes here instead of at a later head.
            long head = journal.head(lane);
            journal.commit(new Commit(name, lane, head, List.of(), List.of(), List.of(), List.of()));
            clearState();
            cursor = head;
        }
        for (Pending p : all) {
            if (!p.parked()) {
                scopes.computeIfAbsent(p.scope(), k -> new ArrayDeque<>()).addFirst(p);
                heads.add(p);
                pendingSeqs.add(p.sequence());
            }
        }
        Instant now = keel.clock().instant();
        for (Pending p : all) {
            if (p.parked()) {
                ArrayDeque<Pending> dq = scopes.get(p.scope());
                if (dq == null) {
                    // Its head is gone (cut short by a crash between engines' writes): it becomes the head.
                    Pending head = p.asHead(dueOf(p.event(), now));
                    scopes.computeIfAbsent(p.scope(), k -> new ArrayDeque<>()).add(head);
                    heads.add(head);
                    upserts.put(head.sequence(), head);
                } else {
                    dq.addLast(p);
                }
                pendingSeqs.add(p.sequence());
            }
        }
        publish();
    }

    /**
     * One pass: reprocess requests, due pending entries, then a batch from the log. Returns the work done
     * (deliveries and moves), 0 when another thread holds the runner or the lane is paused.
     */
    int runOnce() {
        int gen = generation;
        if (!runner.compareAndSet(0, gen)) {
            return 0;
        }
        runnerThread = Thread.currentThread();
        boolean owner = true;
        try {
            if (retired || !keel.holdsLane(lane) || keel.pausedByStore(sub)) {
                return 0;
            }
            if (needsLoad) {
                // Granted (again): another instance may have moved this lane on meanwhile.
                load();
                needsLoad = false;
            }
            passScope = keel.deliveryScope();
            int work = applyReprocessRequests();
            if (!isPausedNow()) {
                int due = deliverDue();
                if (due < 0) {
                    owner = false;
                    return work;
                }
                work += due;
                if (!isPausedNow() && !(ordering == OrderingMode.STRICT && !scopes.isEmpty())) {
                    int logged = deliverLog();
                    if (logged < 0) {
                        owner = false;
                        return work;
                    }
                    work += logged;
                }
            }
            if (!(work > 0 && mayDeferCommit())) {
                flush();
            }
            publish();
            return work;
        } catch (RuntimeException e) {
            // Anything unexpected (a journal read failing, a bug): fall back to what is committed, which
            // redelivers at most this pass, and back off.
            log.error(
                    "subscription '{}' lane {}: a delivery pass failed; reloading its committed state", name, lane, e);
            try {
                load();
            } catch (RuntimeException reload) {
                e.addSuppressed(reload);
            }
            pause(COMMIT_BACKOFF);
            publish();
            return 0;
        } finally {
            if (owner) {
                runnerThread = null;
                runner.compareAndSet(gen, 0);
            }
        }
    }

    private void clearState() {
        scopes.clear();
        heads.clear();
        pendingSeqs.clear();
        upserts.clear();
        removals.clear();
        newDeadLetters.clear();
        removedDeadLetters.clear();
        newCursor = Commit.UNCHANGED;
    }

    int generation() {
        return generation;
    }

    // ---- delivery from the pending set ----

    /** Delivers the due heads; -1 when the watchdog took the state over meanwhile. */
    private int deliverDue() {
        if (heads.isEmpty()) {
            return 0;
        }
        Instant now = keel.clock().instant();
        List<Pending> due = null;
        while (!heads.isEmpty() && !heads.peek().dueAt().isAfter(now)) {
            Pending p = heads.poll();
            ArrayDeque<Pending> dq = scopes.get(p.scope());
            if (dq == null || dq.peekFirst() != p) {
                continue;
            }
            if (due == null) {
                due = new ArrayList<>();
            }
            due.add(p);
        }
        if (due == null) {
            return 0;
        }
        if (ordering != OrderingMode.STRICT && due.size() > 1) {
            due.sort(BY_PRIORITY);
        }
        int work = 0;
        for (int i = 0; i < due.size(); i++) {
            Pending p = due.get(i);
            if (isPausedNow() || keel.isStopping() || !keel.holdsLane(lane)) {
                heads.addAll(due.subList(i, due.size()));
                break;
            }
            currentPending = p;
            Result r = call(p.event(), p.attempt() + 1, p.errors(), p.sequence(), p.replayCount());
            if (r == LOST) {
                return -1;
            }
            currentPending = null;
            work++;
            now = keel.clock().instant();
            switch (r.outcome()) {
                case SUCCESS -> {
                    deliveredCount++;
                    finishHead(p.scope(), now);
                }
                case PAUSED -> {
                    pause(r.pause());
                    heads.addAll(due.subList(i, due.size()));
                    return work;
                }
                default -> failHead(p, r.error(), now);
            }
        }
        return work;
    }

    // ---- delivery from the log ----

    /** Delivers a batch from the log; -1 when the watchdog took the state over meanwhile. */
    private int deliverLog() {
        long from = newCursor != Commit.UNCHANGED ? newCursor : cursor;
        if (journal.head(lane) <= from) {
            return 0; // nothing new: no query (a pass also runs for retries, reprocessing and wake-ups)
        }
        List<LogRecord> records = journal.read(lane, from, keel.batchSize());
        if (records.isEmpty()) {
            return 0;
        }
        batchLastSeq = records.getLast().sequence();
        batchReordered = ordering != OrderingMode.STRICT && hasPriorities(records);
        batch = batchReordered ? reorder(records) : records;
        int work = 0;
        for (batchIndex = 0; batchIndex < batch.size(); batchIndex++) {
            LogRecord rec = batch.get(batchIndex);
            if (keel.isStopping() || !keel.holdsLane(lane)) {
                leaveBatch(batchIndex, keel.clock().instant());
                return work;
            }
            Event<?> e = rec.event();
            long seq = rec.sequence();
            if (!wants(e) || (!pendingSeqs.isEmpty() && pendingSeqs.contains(seq))) {
                advance(seq);
                continue;
            }
            if (ordering != OrderingMode.NONE && !scopes.isEmpty()) {
                String scope = scopeOf(e, seq);
                ArrayDeque<Pending> dq = scopes.get(scope);
                if (dq != null) {
                    park(dq, new Pending(name, lane, seq, scope, true, 0, null, List.of(), 0, e));
                    advance(seq);
                    work++;
                    continue;
                }
            }
            if (e.deliverAt() != null && e.deliverAt().isAfter(keel.clock().instant())) {
                newHead(new Pending(name, lane, seq, scopeOf(e, seq), false, 0, e.deliverAt(), List.of(), 0, e));
                advance(seq);
                work++;
                if (ordering == OrderingMode.STRICT) {
                    break;
                }
                continue;
            }
            currentRecord = rec;
            Result r = call(e, 1, List.of(), seq, 0);
            if (r == LOST) {
                return -1;
            }
            currentRecord = null;
            work++;
            if (r == SUCCESS) {
                deliveredCount++;
                advance(seq);
                continue;
            }
            if (r.outcome() == Outcome.PAUSED) {
                pause(r.pause());
                leaveBatch(batchIndex, keel.clock().instant().plus(r.pause()));
                return work;
            }
            fail(
                    e,
                    seq,
                    scopeOf(e, seq),
                    1,
                    List.of(),
                    0,
                    r.error(),
                    false,
                    keel.clock().instant());
            advance(seq);
            if (ordering == OrderingMode.STRICT) {
                break;
            }
        }
        if (batchReordered) {
            newCursor = batchLastSeq;
        }
        endBatch();
        return work;
    }

    /** Whether the subscription wants the event; remembers the last type's answer, as types repeat in runs. */
    private boolean wants(Event<?> e) {
        String tenant = sub.subscription.tenant();
        if (tenant != null && !tenant.equals(e.tenant())) {
            return false;
        }
        String type = e.type();
        if (type != lastType) {
            lastTypeMatches = sub.subscription.matches(type);
            lastType = type;
        }
        return lastTypeMatches;
    }

    /**
     * Stops the batch before record {@code from}. Without reordering the cursor already stands before it;
     * in a reordered batch the records not handled wait in the pending set, due at {@code due}.
     */
    private void leaveBatch(int from, Instant due) {
        if (batchReordered) {
            deferRest(from, due);
            newCursor = batchLastSeq;
        }
        endBatch();
    }

    /** Records a failed attempt of a pending head. */
    private void failHead(Pending p, Throwable error, Instant now) {
        fail(p.event(), p.sequence(), p.scope(), p.attempt() + 1, p.errors(), p.replayCount(), error, true, now);
    }

    private void endBatch() {
        batch = List.of();
        batchReordered = false;
    }

    private void advance(long seq) {
        if (!batchReordered) {
            newCursor = seq;
        }
    }

    /** The records of the batch from {@code from} on that were not handled wait in the pending set. */
    private void deferRest(int from, Instant due) {
        for (int j = from; j < batch.size(); j++) {
            LogRecord rec = batch.get(j);
            Event<?> e = rec.event();
            if (!sub.subscription.accepts(e) || pendingSeqs.contains(rec.sequence())) {
                continue;
            }
            String scope = scopeOf(e, rec.sequence());
            ArrayDeque<Pending> dq = scopes.get(scope);
            if (dq != null && ordering != OrderingMode.NONE) {
                park(dq, new Pending(name, lane, rec.sequence(), scope, true, 0, null, List.of(), 0, e));
            } else {
                newHead(new Pending(name, lane, rec.sequence(), scope, false, 0, dueOf(e, due), List.of(), 0, e));
            }
        }
    }

    private static Instant dueOf(Event<?> e, Instant earliest) {
        return e.deliverAt() != null && e.deliverAt().isAfter(earliest) ? e.deliverAt() : earliest;
    }

    private static boolean hasPriorities(List<LogRecord> records) {
        int first = records.getFirst().event().priority();
        for (int i = 1; i < records.size(); i++) {
            if (records.get(i).event().priority() != first) {
                return true;
            }
        }
        return false;
    }

    /** Higher priority first among the heads of each key; same-key order is kept. */
    private static List<LogRecord> reorder(List<LogRecord> records) {
        LinkedHashMap<String, ArrayDeque<LogRecord>> byKey = new LinkedHashMap<>();
        for (LogRecord r : records) {
            byKey.computeIfAbsent(r.event().orderingKey(), k -> new ArrayDeque<>())
                    .add(r);
        }
        PriorityQueue<ArrayDeque<LogRecord>> pick = new PriorityQueue<>(Comparator.<ArrayDeque<LogRecord>>comparingInt(
                        q -> -q.peekFirst().event().priority())
                .thenComparingLong(q -> q.peekFirst().sequence()));
        pick.addAll(byKey.values());
        List<LogRecord> out = new ArrayList<>(records.size());
        while (!pick.isEmpty()) {
            ArrayDeque<LogRecord> q = pick.poll();
            out.add(q.pollFirst());
            if (!q.isEmpty()) {
                pick.add(q);
            }
        }
        return out;
    }

    private String scopeOf(Event<?> e, long seq) {
        return switch (ordering) {
            case STRICT -> "";
            case PER_KEY -> e.orderingKey();
            case NONE -> "#" + seq;
        };
    }

    // ---- outcomes ----

    private void fail(
            Event<?> e,
            long seq,
            String scope,
            int attempt,
            List<AttemptError> previous,
            int replayCount,
            Throwable error,
            boolean isHead,
            Instant now) {
        List<AttemptError> errors = new ArrayList<>(previous.size() + 1);
        errors.addAll(previous);
        errors.add(AttemptError.of(attempt, now, error));
        RetryPolicy policy = sub.subscription.policy().retryFor(e.type());
        sub.failedAttempts.increment();
        if (policy.allowsRetry(error, attempt)) {
            Duration delay = error instanceof RetryAfterException ra
                    ? ra.delay()
                    : policy.delayAfter(attempt, keel.random().nextDouble());
            if (delay.isNegative()) {
                delay = Duration.ZERO;
            } else if (delay.compareTo(MAX_RETRY_DELAY) > 0) {
                delay = MAX_RETRY_DELAY;
            }
            Pending p = new Pending(name, lane, seq, scope, false, attempt, now.plus(delay), errors, replayCount, e);
            if (isHead) {
                ArrayDeque<Pending> dq = scopes.get(scope);
                dq.pollFirst();
                dq.addFirst(p);
                heads.add(p);
                upsert(p);
            } else {
                newHead(p);
            }
            sub.retriesScheduled.increment();
            counters(e.type())[1].increment();
            if (log.isDebugEnabled()) {
                log.debug(
                        "subscription '{}' will retry event {} ({}) at {}: attempt {} failed: {}",
                        name,
                        e.id(),
                        e.type(),
                        p.dueAt(),
                        attempt,
                        error.toString());
            }
        } else {
            String reason = policy.isRetryable(error)
                    ? "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s") + ": " + describe(error)
                    : "permanent failure: " + describe(error);
            newDeadLetters.add(
                    new DeadLetter(EventIds.next(), name, lane, seq, e, errors, reason, now, replayCount, false));
            sub.deadLettered.increment();
            counters(e.type())[2].increment();
            log.warn("subscription '{}' dead-lettered event {} ({}): {}", name, e.id(), e.type(), reason);
            if (isHead) {
                finishHead(scope, now);
            }
        }
    }

    private static String describe(Throwable error) {
        String message = error.getMessage();
        return error.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    private void park(ArrayDeque<Pending> dq, Pending parked) {
        dq.addLast(parked);
        pendingSeqs.add(parked.sequence());
        upsert(parked);
    }

    private void newHead(Pending p) {
        ArrayDeque<Pending> dq = new ArrayDeque<>(2);
        dq.add(p);
        scopes.put(p.scope(), dq);
        heads.add(p);
        pendingSeqs.add(p.sequence());
        upsert(p);
    }

    /** The head of the scope is done: remove it and promote the next parked entry, if any. */
    private void finishHead(String scope, Instant now) {
        ArrayDeque<Pending> dq = scopes.get(scope);
        Pending done = dq.pollFirst();
        remove(done.sequence());
        Pending next = dq.pollFirst();
        if (next == null) {
            scopes.remove(scope);
            return;
        }
        Pending head = next.asHead(dueOf(next.event(), now));
        dq.addFirst(head);
        heads.add(head);
        upsert(head);
    }

    private void upsert(Pending p) {
        removals.remove(p.sequence());
        upserts.put(p.sequence(), p);
    }

    private void remove(long seq) {
        pendingSeqs.remove(seq);
        upserts.remove(seq);
        removals.add(seq);
    }

    private int applyReprocessRequests() {
        if (reprocessRequests.isEmpty()) {
            return 0;
        }
        int work = 0;
        DeadLetter d;
        while ((d = reprocessRequests.poll()) != null) {
            if (pendingSeqs.contains(d.sequence())
                    || removedDeadLetters.contains(d.id())
                    || journal.deadLetter(d.id()).isEmpty()) {
                continue;
            }
            String scope = scopeOf(d.event(), d.sequence());
            ArrayDeque<Pending> dq = scopes.get(scope);
            if (dq != null) {
                park(
                        dq,
                        new Pending(
                                name,
                                lane,
                                d.sequence(),
                                scope,
                                true,
                                0,
                                null,
                                d.errors(),
                                d.replayCount() + 1,
                                d.event()));
            } else {
                newHead(new Pending(
                        name,
                        lane,
                        d.sequence(),
                        scope,
                        false,
                        0,
                        keel.clock().instant(),
                        d.errors(),
                        d.replayCount() + 1,
                        d.event()));
            }
            removedDeadLetters.add(d.id());
            work++;
        }
        return work;
    }

    /**
     * Whether this pass's commit can wait for the next: the journal allows it, the pass only moved the
     * cursor, the last commit is recent and not much is uncommitted. The next pass that finds nothing to do
     * commits.
     */
    private boolean mayDeferCommit() {
        return commitIntervalNanos > 0
                && !retired
                && !keel.isStopping()
                && newCursor != Commit.UNCHANGED
                && upserts.isEmpty()
                && removals.isEmpty()
                && newDeadLetters.isEmpty()
                && removedDeadLetters.isEmpty()
                && newCursor - cursor < 4L * keel.batchSize()
                && System.nanoTime() - lastCommitNanos < commitIntervalNanos;
    }

    private void flush() {
        boolean changed = !upserts.isEmpty() || !removals.isEmpty();
        boolean deadLettersChanged = !newDeadLetters.isEmpty() || !removedDeadLetters.isEmpty();
        if (newCursor == Commit.UNCHANGED && !changed && !deadLettersChanged) {
            return;
        }
        if (!sub.subscription.ephemeral()) {
            Commit c = new Commit(
                    name,
                    lane,
                    newCursor,
                    upserts.isEmpty() ? List.of() : List.copyOf(upserts.values()),
                    removals.isEmpty() ? List.of() : List.copyOf(removals),
                    newDeadLetters,
                    removedDeadLetters,
                    keel.fenceFor(lane));
            try {
                journal.commit(c);
                lastCommitNanos = System.nanoTime();
            } catch (dev.keel.spi.LeaseLostException lost) {
                // Another instance holds the lane now: drop what this pass did (it redelivers) and reload when
                // the lane comes back.
                log.info("subscription '{}' lane {}: {}", name, lane, lost.getMessage());
                clearState();
                needsLoad = true;
                return;
            } catch (RuntimeException ex) {
                log.warn(
                        "subscription '{}' lane {}: could not commit delivery outcomes ({}); reloading its state and retrying in {} ms",
                        name,
                        lane,
                        ex.toString(),
                        COMMIT_BACKOFF.toMillis());
                load();
                pause(COMMIT_BACKOFF);
                return;
            }
        } else if (!newDeadLetters.isEmpty()) {
            log.warn("stream subscription '{}' dropped {} events it could not deliver", name, newDeadLetters.size());
        }
        if (newCursor != Commit.UNCHANGED) {
            cursor = newCursor;
            newCursor = Commit.UNCHANGED;
        }
        upserts.clear();
        removals.clear();
        newDeadLetters.clear();
        removedDeadLetters.clear();
        if (deadLettersChanged && !sub.subscription.ephemeral()) {
            keel.onDeadLetterChange(sub);
        }
    }

    /** Publishes the summaries other threads read. */
    private void publish() {
        int due = 0;
        int parked = 0;
        long min = Long.MAX_VALUE;
        if (!scopes.isEmpty()) {
            for (ArrayDeque<Pending> dq : scopes.values()) {
                due++;
                parked += dq.size() - 1;
            }
            for (Long seq : pendingSeqs) {
                min = Math.min(min, seq);
            }
        }
        dueCount = due;
        parkedCount = parked;
        delivered = deliveredCount;
        minPendingSeq = min;
        Pending next = heads.peek();
        nextDue = next == null ? null : next.dueAt();
        pausedUntilSummary = paused ? pausedUntil : 0;
    }

    // ---- the handler call ----

    private Result call(Event<?> event, int attempt, List<AttemptError> errors, long seq, int replayCount) {
        Event<?> converted;
        try {
            converted = keel.codec().convert(event, payloadType);
        } catch (PermanentFailureException e) {
            return new Result(Outcome.FAILED, e, null);
        }
        Delivery<?> delivery = new Delivery<>(name, converted, attempt, errors, lane, seq, replayCount);
        Span span = keel.telemetry().startConsumer(name, event, attempt);
        Scope traceScope = span == null ? null : span.makeCurrent();
        DeliveryScope scope = passScope != null ? passScope : keel.deliveryScope();
        Delivery<?> outer = scope.current;
        scope.current = delivery;
        boolean timing = keel.telemetry().metering();
        long start = timing ? System.nanoTime() : 0;
        long stamp = 0;
        if (timeout != null) {
            // The watchdog's coarse clock, with a per-delivery number in the low bits so no two
            // deliveries of this worker share a stamp within a tick.
            stamp = (keel.coarseNanos() & ~STAMP_SEQ_MASK) | (++stampSeq & STAMP_SEQ_MASK);
            if (stamp == 0) {
                stamp = 1;
            }
            Thread me = Thread.currentThread();
            if (inflightThread != me) {
                inflightThread = me;
            }
            slot.setRelease(stamp);
        }
        Result result;
        if (timeout == null) {
            // For the health check (a timed delivery's start is in its watchdog stamp already).
            deliveringSince = keel.coarseNanos();
        }
        try {
            sub.chain.proceed(delivery);
            result = SUCCESS;
        } catch (DeliveryPausedException e) {
            result = new Result(Outcome.PAUSED, e, e.retryAfter());
        } catch (StackOverflowError e) {
            result = new Result(Outcome.FAILED, e, null);
        } catch (VirtualMachineError e) {
            if (timeout != null && !slot.compareAndSet(stamp, 0)) {
                slot.compareAndSet(-stamp, 0);
            }
            throw e;
        } catch (Throwable e) {
            result = new Result(Outcome.FAILED, e, null);
        } finally {
            scope.current = outer;
            if (timeout == null) {
                deliveringSince = 0;
            }
        }
        if (timeout != null) {
            if (!slot.compareAndSet(stamp, 0)) {
                if (slot.compareAndSet(-stamp, 0)) {
                    while (!interruptSent) {
                        Thread.onSpinWait();
                    }
                    interruptSent = false;
                    Thread.interrupted();
                    if (result.outcome() == Outcome.FAILED) {
                        DeliveryTimeoutException te = new DeliveryTimeoutException(name, event.id(), timeout);
                        te.initCause(result.error());
                        result = new Result(Outcome.FAILED, te, null);
                    }
                } else {
                    // The watchdog took over; it interrupted this thread before doing so.
                    Thread.interrupted();
                    endSpan(span, traceScope, result);
                    return LOST;
                }
            }
        }
        endSpan(span, traceScope, result);
        if (timing) {
            TypeMeters m = meters(event.type());
            m.timer().record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            if (result.outcome() == Outcome.SUCCESS) {
                m.counters()[0].increment();
            } else if (result.outcome() == Outcome.PAUSED) {
                m.counters()[3].increment();
            }
        }
        return result;
    }

    private static void endSpan(Span span, Scope traceScope, Result result) {
        if (span == null) {
            return;
        }
        if (result.outcome() == Outcome.FAILED) {
            span.setStatus(StatusCode.ERROR, String.valueOf(result.error().getMessage()));
            span.recordException(result.error());
        }
        traceScope.close();
        span.end();
    }

    private TypeMeters meters(String type) {
        TypeMeters m = meters;
        if (m != null && m.type().equals(type)) {
            return m;
        }
        m = sub.meters(type);
        meters = m;
        return m;
    }

    private Counter[] counters(String type) {
        return meters(type).counters();
    }

    /** Makes the meters of one event type for a subscription. */
    static TypeMeters newMeters(Keel keel, String subscription, String type) {
        Counter[] made = new Counter[OUTCOMES.length];
        for (int i = 0; i < made.length; i++) {
            made[i] = keel.telemetry().delivery(subscription, type, OUTCOMES[i]);
        }
        return new TypeMeters(type, made, keel.telemetry().duration(subscription, type));
    }

    // ---- pauses, timeouts and the watchdog ----

    private void pause(Duration d) {
        pausedUntil = System.nanoTime() + Math.max(1, d.toNanos());
        paused = true;
        sub.pauses.increment();
    }

    private boolean isPausedNow() {
        if (paused && System.nanoTime() - pausedUntil >= 0) {
            paused = false;
        }
        return paused;
    }

    /** Called by the watchdog: warns at 80% of the timeout, interrupts at 100%, takes over at 200%. */
    void watch(long now) {
        long s = slot.get();
        if (s == 0 || s == ABANDONED || timeout == null) {
            return;
        }
        long start = Math.abs(s) & ~STAMP_SEQ_MASK;
        long budget = timeout.toNanos();
        long elapsed = now - start;
        if (elapsed >= budget / 5 * 4 && warnedFor != s && warnedFor != -s) {
            warnedFor = Math.abs(s);
            sub.timeoutWarnings.increment();
            log.warn(
                    "subscription '{}' lane {}: a delivery has used 80% of its {} ms timeout",
                    name, lane, timeout.toMillis());
        }
        if (s > 0 && elapsed >= budget && slot.compareAndSet(s, -s)) {
            Thread t = inflightThread;
            if (t != null) {
                t.interrupt();
            }
            interruptSent = true;
        }
        if (s < 0 && elapsed >= 2 * budget && keel.isStarted()) {
            if (slot.compareAndSet(s, ABANDONED)) {
                takeOver();
            }
        }
    }

    /** The watchdog owns the state now: fail the stuck delivery, commit, and start a fresh runner. */
    private void takeOver() {
        Thread stuck = inflightThread;
        generation++;
        Instant now = keel.clock().instant();
        if (currentPending != null) {
            Pending p = currentPending;
            failHead(p, new DeliveryTimeoutException(name, p.event().id(), timeout), now);
        } else if (currentRecord != null) {
            LogRecord r = currentRecord;
            Event<?> e = r.event();
            fail(
                    e,
                    r.sequence(),
                    scopeOf(e, r.sequence()),
                    1,
                    List.of(),
                    0,
                    new DeliveryTimeoutException(name, e.id(), timeout),
                    false,
                    now);
            if (batchReordered) {
                deferRest(batchIndex + 1, now);
                newCursor = batchLastSeq;
            } else {
                newCursor = r.sequence();
            }
        }
        currentPending = null;
        currentRecord = null;
        endBatch();
        heads.clear();
        for (ArrayDeque<Pending> dq : scopes.values()) {
            Pending h = dq.peekFirst();
            if (h != null && !h.parked()) {
                heads.add(h);
            }
        }
        flush();
        publish();
        interruptSent = false;
        slot.set(0);
        runnerThread = null;
        runner.set(0);
        log.error(
                "subscription '{}' lane {}: a handler ignored its interrupt and ran past twice its {} ms timeout on thread {};"
                        + " the attempt is failed and the lane goes on with a new thread. Make the handler honour interrupts",
                name,
                lane,
                timeout.toMillis(),
                stuck);
        keel.restart(this);
    }

    // ---- summaries for the loop, stats, maintenance and shutdown ----

    long lag() {
        return Math.max(0, journal.head(lane) - cursor);
    }

    boolean inFlight() {
        long s = slot.get();
        return s != 0 && s != ABANDONED;
    }

    /** The highest sequence of the lane the subscription no longer needs. */
    /** How long the delivery in flight has run, in nanoseconds; 0 when none is. */
    long deliveringFor(long nowCoarse) {
        long since;
        if (timeout != null) {
            long stamp = slot.get();
            since = stamp == 0 || stamp == ABANDONED ? 0 : Math.abs(stamp) & ~STAMP_SEQ_MASK;
        } else {
            since = deliveringSince;
        }
        return since == 0 ? 0 : Math.max(0, nowCoarse - since);
    }

    long prunePoint() {
        return Math.min(cursor, minPendingSeq - 1);
    }

    /** Nanoseconds until something may be due, at most {@code max}. */
    long waitNanos(long max) {
        long wait = max;
        long until = pausedUntilSummary;
        if (until != 0) {
            wait = Math.min(wait, until - System.nanoTime());
        }
        Instant due = nextDue;
        if (due != null) {
            wait = Math.min(wait, Duration.between(keel.clock().instant(), due).toNanos());
        }
        return Math.max(0, wait);
    }

    private boolean pausedSummary() {
        long until = pausedUntilSummary;
        return until != 0 && System.nanoTime() - until < 0;
    }

    /** The lane was granted, lost or re-granted: reload before the next delivery. */
    void leaseChanged() {
        needsLoad = true;
    }

    /** Waits until no pass runs (a lane being given back finishes and commits first). */
    void awaitIdle(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (runner.get() != 0 && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(1_000_000);
        }
    }

    /** Whether a pass now would find work. */
    boolean hasWork() {
        if (!keel.holdsLane(lane) || keel.pausedByStore(sub)) {
            return false;
        }
        if (!reprocessRequests.isEmpty()) {
            return true;
        }
        if (pausedSummary()) {
            return false;
        }
        Instant due = nextDue;
        if (due != null && !due.isAfter(keel.clock().instant())) {
            return true;
        }
        return journal.head(lane) > cursor && !(ordering == OrderingMode.STRICT && dueCount > 0);
    }

    /** Whether nothing is left to do now: no pass running, no lag, nothing due. */
    boolean isDrained() {
        if (runner.get() != 0) {
            return false;
        }
        if (!keel.holdsLane(lane)) {
            return true; // another instance delivers it
        }
        if (!reprocessRequests.isEmpty()) {
            return false;
        }
        Instant due = nextDue;
        if (due != null && !due.isAfter(keel.clock().instant())) {
            return false;
        }
        return lag() == 0 || (ordering == OrderingMode.STRICT && dueCount > 0);
    }

    /** Waits until no pass runs and stops further passes (for unsubscribe). */
    void retire(Duration wait) {
        retired = true;
        generation++;
        if (runnerThread == Thread.currentThread()) {
            return; // called from this worker's own handler (a stream cancelled while delivering)
        }
        long deadline = System.nanoTime() + wait.toNanos();
        while (runner.get() != 0 && System.nanoTime() - deadline < 0) {
            Thread.onSpinWait();
            Thread.yield();
        }
    }
}
