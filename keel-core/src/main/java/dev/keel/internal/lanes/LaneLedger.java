package dev.keel.internal.lanes;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.Event;
import dev.keel.OrderingMode;
import dev.keel.PermanentFailureException;
import dev.keel.RetryAfterException;
import dev.keel.RetryPolicy;
import dev.keel.spi.Commit;
import dev.keel.spi.LogRecord;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;

/**
 * The delivery state of one subscription on one lane, as a state machine without threads, clocks or I/O:
 * the cursor, the pending entries grouped by ordering scope (the head of a scope waits for its due time,
 * the rest are parked behind it), and the changes not yet committed. It decides what to deliver next, in
 * which order, and what each outcome means (retry at a time, dead letter, promote the next parked entry),
 * and turns the changes into one {@link Commit}.
 *
 * <p>A caller drives it in passes: {@link #beginPass}, then {@link #next} until it says {@link Step#END},
 * delivering each {@link Step#ATTEMPT} and reporting it with {@link #record}, reading the log when it says
 * {@link Step#READ}; then {@link #takeCommit} and, once stored, {@link #committed}. Whoever holds the
 * ledger owns it: it is not thread-safe, and must be handed over, never shared (see {@link LaneWorker}).
 *
 * <p>Time (a clock, read only when an outcome needs a time), randomness (retry jitter) and dead-letter ids come
 * from what the constructor is given, so a test on a test clock replays any sequence exactly.
 *
 * <p>It is long because every way an event can go through a lane (due, parked, delayed, reordered by
 * priority, retried, dead-lettered, taken back from the dead letters) is decided here, in the one place a
 * test can drive without threads.
 */
public final class LaneLedger {
    /** What the driver of a pass does next. */
    public enum Step {
        /** Deliver {@link #attempt()} and report it with {@link #record}. */
        ATTEMPT,
        /** Read records of the lane after {@link #readAfter()} and pass them to {@link #admit}. */
        READ,
        /** The pass is over. */
        END
    }

    /** What an outcome came to. */
    public enum Verdict {
        DELIVERED,
        RETRY,
        DEAD_LETTERED,
        PAUSED
    }

    private static final Duration MAX_RETRY_DELAY = Duration.ofDays(365);
    private static final Comparator<Pending> BY_DUE =
            Comparator.comparing(Pending::dueAt).thenComparingLong(Pending::sequence);
    private static final Comparator<Pending> BY_PRIORITY = Comparator.<Pending>comparingInt(
                    p -> -p.event().priority())
            .thenComparing(Pending::dueAt)
            .thenComparingLong(Pending::sequence);

    private final String subscription;
    private final int lane;
    private final OrderingMode ordering;
    private final Predicate<Event<?>> wants;
    private final Function<String, RetryPolicy> retries;
    private final RandomGenerator random;
    private final Supplier<String> ids;
    private final Clock clock;

    // ---- the state as stored, plus what is not committed yet ----
    private long cursor;
    private final HashMap<String, ArrayDeque<Pending>> scopes = new HashMap<>();
    private final PriorityQueue<Pending> heads = new PriorityQueue<>(BY_DUE);
    private final HashSet<Long> pendingSeqs = new HashSet<>();

    private long newCursor = Commit.UNCHANGED;
    private final LinkedHashMap<Long, Pending> upserts = new LinkedHashMap<>();
    private final LinkedHashSet<Long> removals = new LinkedHashSet<>();
    private final List<DeadLetter> newDeadLetters = new ArrayList<>();
    private final List<String> removedDeadLetters = new ArrayList<>();
    private long delivered;
    private long failed;
    private long retried;
    private long deadLettered;

    // ---- the pass ----
    private List<Pending> due = List.of();
    private int dueIndex;
    private boolean logDecided;
    private boolean logOpen;
    private boolean batchRead;
    private List<LogRecord> batch = List.of();
    private int batchIndex;
    private boolean batchReordered;
    private long batchLastSeq;
    private boolean ended = true;
    private int work;
    /** Whether an attempt was handed out and not reported yet: {@link #currentPending} or {@link #currentRecord}. */
    private boolean inFlight;

    private Pending currentPending;
    private LogRecord currentRecord;
    private Event<?> lastEvent;
    private int lastAttemptNumber;
    private Instant lastRetryAt;
    private DeadLetter lastDeadLetter;

    /**
     * One delivery to make.
     *
     * @param event the event
     * @param sequence its position in the lane
     * @param attempt the attempt's number, from 1
     * @param errors the earlier failed attempts
     * @param replayCount how often it was reprocessed from the dead letters
     */
    public record Attempt(Event<?> event, long sequence, int attempt, List<AttemptError> errors, int replayCount) {}

    /**
     * @param wants whether the subscription takes an event (type and tenant)
     * @param retries the retry policy for an event type
     * @param random places retry jitter
     * @param ids new dead letters' ids
     * @param clock the time of failures, retries and due entries; read only when an outcome needs it
     */
    public LaneLedger(
            String subscription,
            int lane,
            OrderingMode ordering,
            Predicate<Event<?>> wants,
            Function<String, RetryPolicy> retries,
            RandomGenerator random,
            Supplier<String> ids,
            Clock clock) {
        this.subscription = Objects.requireNonNull(subscription, "subscription");
        this.lane = lane;
        this.ordering = Objects.requireNonNull(ordering, "ordering");
        this.wants = Objects.requireNonNull(wants, "wants");
        this.retries = Objects.requireNonNull(retries, "retries");
        this.random = Objects.requireNonNull(random, "random");
        this.ids = Objects.requireNonNull(ids, "ids");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    // ---- loading ----

    /**
     * Forgets everything, uncommitted changes included, and starts again from what is stored: the cursor
     * and the pending entries ordered by sequence. A parked entry whose head is gone (an engine that lost
     * part of a write) becomes the head of its scope, due at {@code now}; the repair is committed with the
     * next commit.
     */
    public void reset(long storedCursor, List<Pending> stored) {
        Instant now = clock.instant();
        scopes.clear();
        heads.clear();
        pendingSeqs.clear();
        clearChanges();
        due = List.of();
        batch = List.of();
        inFlight = false;
        currentPending = null;
        currentRecord = null;
        ended = true;
        cursor = storedCursor;
        for (Pending p : stored) {
            if (!p.parked()) {
                scopes.computeIfAbsent(p.scope(), k -> new ArrayDeque<>()).addFirst(p);
                heads.add(p);
                pendingSeqs.add(p.sequence());
            }
        }
        for (Pending p : stored) {
            if (p.parked()) {
                ArrayDeque<Pending> dq = scopes.get(p.scope());
                if (dq == null) {
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
    }

    // ---- reprocessing ----

    /**
     * Takes a dead letter back as a fresh series of attempts, in its key's order: it becomes the head of its
     * scope, due at {@code now}, or waits behind the scope's head. Returns false, changing nothing, when the
     * event is already pending or the dead letter was taken back before.
     */
    public boolean reprocess(DeadLetter d) {
        if (!ended) {
            throw new IllegalStateException("take dead letters back between passes, not during one");
        }
        if (pendingSeqs.contains(d.sequence()) || removedDeadLetters.contains(d.id())) {
            return false;
        }
        String scope = scopeOf(d.event(), d.sequence());
        ArrayDeque<Pending> dq = scopes.get(scope);
        if (dq != null) {
            park(dq, pending(d.event(), d.sequence(), scope, true, 0, null, d.errors(), d.replayCount() + 1));
        } else {
            newHead(pending(
                    d.event(), d.sequence(), scope, false, 0, clock.instant(), d.errors(), d.replayCount() + 1));
        }
        removedDeadLetters.add(d.id());
        return true;
    }

    /**
     * Drops a request for a dead letter that no longer exists (deleted, or taken back already): the commit
     * clears the request.
     */
    public void forgetReprocess(String deadLetterId) {
        if (!removedDeadLetters.contains(deadLetterId)) {
            removedDeadLetters.add(deadLetterId);
        }
    }

    // ---- a pass ----

    /** Starts a pass: the heads due at {@code now} are delivered first, higher priority first, then one batch of the log. */
    public void beginPass() {
        if (inFlight) {
            throw new IllegalStateException("the attempt in flight has not been recorded");
        }
        work = 0;
        ended = false;
        logDecided = false;
        logOpen = false;
        batchRead = false;
        dueIndex = 0;
        List<Pending> found = null;
        Instant now = heads.isEmpty() ? null : clock.instant();
        while (!heads.isEmpty() && !heads.peek().dueAt().isAfter(now)) {
            Pending p = heads.poll();
            ArrayDeque<Pending> dq = scopes.get(p.scope());
            if (dq == null || dq.peekFirst() != p) {
                continue; // replaced since it was queued
            }
            if (found == null) {
                found = new ArrayList<>();
            }
            found.add(p);
        }
        if (found != null && ordering != OrderingMode.STRICT && found.size() > 1) {
            found.sort(BY_PRIORITY);
        }
        due = found == null ? List.of() : found;
    }

    /** What to do next in this pass. */
    public Step next() {
        if (inFlight) {
            throw new IllegalStateException("the attempt in flight has not been recorded");
        }
        if (ended) {
            return Step.END;
        }
        if (dueIndex < due.size()) {
            Pending p = due.get(dueIndex);
            currentPending = p;
            inFlight = true;
            return Step.ATTEMPT;
        }
        if (!logDecided) {
            logDecided = true;
            logOpen = !(ordering == OrderingMode.STRICT && !scopes.isEmpty());
        }
        if (!logOpen) {
            return end();
        }
        if (!batchRead) {
            return Step.READ;
        }
        while (batchIndex < batch.size()) {
            LogRecord rec = batch.get(batchIndex);
            Event<?> e = rec.event();
            long seq = rec.sequence();
            if (!wants.test(e) || (!pendingSeqs.isEmpty() && pendingSeqs.contains(seq))) {
                advance(seq);
                batchIndex++;
                continue;
            }
            if (ordering != OrderingMode.NONE && !scopes.isEmpty()) {
                String scope = scopeOf(e, seq);
                ArrayDeque<Pending> dq = scopes.get(scope);
                if (dq != null) {
                    park(dq, pending(e, seq, scope, true, 0, null, List.of(), 0));
                    advance(seq);
                    batchIndex++;
                    work++;
                    continue;
                }
            }
            if (e.deliverAt() != null && e.deliverAt().isAfter(clock.instant())) {
                newHead(pending(e, seq, scopeOf(e, seq), false, 0, e.deliverAt(), List.of(), 0));
                advance(seq);
                batchIndex++;
                work++;
                if (ordering == OrderingMode.STRICT) {
                    return endBatch();
                }
                continue;
            }
            currentRecord = rec;
            inFlight = true;
            return Step.ATTEMPT;
        }
        return endBatch();
    }

    /** Where to read the log from: the last sequence passed, committed or not. */
    public long readAfter() {
        return newCursor != Commit.UNCHANGED ? newCursor : cursor;
    }

    /** The records read for {@link Step#READ}, in sequence order (none when the log has nothing new). */
    public void admit(List<LogRecord> records) {
        if (batchRead || !logOpen) {
            throw new IllegalStateException("the pass did not ask for records");
        }
        batchRead = true;
        batchIndex = 0;
        if (records.isEmpty()) {
            batch = List.of();
            return;
        }
        batchLastSeq = records.getLast().sequence();
        batchReordered = ordering != OrderingMode.STRICT && hasPriorities(records);
        batch = batchReordered ? reorder(records) : records;
    }

    /**
     * The log holds nothing after {@link #readAfter()} up to {@code head} any more (pruned before this
     * subscription read it: registered again after a while away, say): the cursor moves to the head, as after
     * an empty batch. Returns how many sequences were passed over.
     */
    public long skipGone(long head) {
        long from = readAfter();
        admit(List.of());
        if (head <= from) {
            return 0;
        }
        newCursor = head;
        return head - from;
    }

    /** The attempt {@link #next} handed out, as a value (the getters below read it without one). */
    public Attempt attempt() {
        return new Attempt(attemptEvent(), attemptSequence(), attemptNumber(), attemptErrors(), attemptReplays());
    }

    /**
     * The record of the attempt {@link #next} handed out when it is a first attempt from the log (its number
     * 1, no earlier errors, never reprocessed); null when it is a due head's, which the getters below give.
     */
    public LogRecord attemptRecord() {
        requireInFlight();
        return currentPending == null ? currentRecord : null;
    }

    /** The event of the attempt {@link #next} handed out. */
    public Event<?> attemptEvent() {
        requireInFlight();
        return currentPending != null ? currentPending.event() : currentRecord.event();
    }

    /** Its position in the lane. */
    public long attemptSequence() {
        requireInFlight();
        return currentPending != null ? currentPending.sequence() : currentRecord.sequence();
    }

    /** The attempt's number, from 1. */
    public int attemptNumber() {
        requireInFlight();
        return currentPending != null ? currentPending.attempt() + 1 : 1;
    }

    /** The earlier failed attempts. */
    public List<AttemptError> attemptErrors() {
        requireInFlight();
        return currentPending != null ? currentPending.errors() : List.of();
    }

    /** How often the event was reprocessed from the dead letters. */
    public int attemptReplays() {
        requireInFlight();
        return currentPending != null ? currentPending.replayCount() : 0;
    }

    private void requireInFlight() {
        if (!inFlight) {
            throw new IllegalStateException("no attempt in flight");
        }
    }

    /** Records the outcome of the attempt in flight. */
    public Verdict record(Outcome outcome) {
        requireInFlight();
        inFlight = false;
        work++;
        if (currentPending == null && outcome instanceof Outcome.Success) {
            // The common case, first: a record of the log delivered.
            LogRecord rec = currentRecord;
            currentRecord = null;
            lastEvent = rec.event();
            lastAttemptNumber = 1;
            delivered++;
            advance(rec.sequence());
            batchIndex++;
            return Verdict.DELIVERED;
        }
        Pending p = currentPending;
        currentPending = null;
        LogRecord rec = currentRecord;
        currentRecord = null;
        if (p != null) {
            lastEvent = p.event();
            lastAttemptNumber = p.attempt() + 1;
            return switch (outcome) {
                case Outcome.Success s -> {
                    delivered++;
                    dueIndex++;
                    finishHead(p.scope());
                    yield Verdict.DELIVERED;
                }
                case Outcome.Pause pause -> {
                    leaveDue();
                    ended = true;
                    yield Verdict.PAUSED;
                }
                case Outcome.Failure f -> {
                    dueIndex++;
                    yield fail(
                            p.event(),
                            p.sequence(),
                            p.scope(),
                            p.attempt() + 1,
                            p.errors(),
                            p.replayCount(),
                            f.error(),
                            true,
                            clock.instant());
                }
            };
        }
        long seq = rec.sequence();
        lastEvent = rec.event();
        lastAttemptNumber = 1;
        return switch (outcome) {
            case Outcome.Success s -> {
                delivered++;
                advance(seq);
                batchIndex++;
                yield Verdict.DELIVERED;
            }
            case Outcome.Pause pause -> {
                leaveBatch(clock.instant().plus(pause.duration()));
                ended = true;
                yield Verdict.PAUSED;
            }
            case Outcome.Failure f -> {
                Event<?> e = rec.event();
                Verdict v = fail(e, seq, scopeOf(e, seq), 1, List.of(), 0, f.error(), false, clock.instant());
                advance(seq);
                batchIndex++;
                if (ordering == OrderingMode.STRICT) {
                    endBatch();
                }
                yield v;
            }
        };
    }

    /**
     * Ends the pass early (shutting down, the lane lost, a pause): due heads not tried stay due; records of
     * the batch not handled are read again next time, or in a reordered batch wait in the pending set, due
     * now.
     */
    public void leave() {
        if (inFlight) {
            throw new IllegalStateException("the attempt in flight has not been recorded");
        }
        if (ended) {
            return;
        }
        leaveDue();
        if (batchRead) {
            leaveBatch(batchReordered ? clock.instant() : null);
        }
        ended = true;
    }

    /** The event of the attempt last recorded. */
    public Event<?> lastEvent() {
        return lastEvent;
    }

    /** The number of the attempt last recorded. */
    public int lastAttemptNumber() {
        return lastAttemptNumber;
    }

    /** When the retry last scheduled is due. */
    public Instant lastRetryAt() {
        return lastRetryAt;
    }

    /** The dead letter last made. */
    public DeadLetter lastDeadLetter() {
        return lastDeadLetter;
    }

    /** Deliveries and moves (parked, delayed) made in this pass. */
    public int work() {
        return work;
    }

    private void leaveDue() {
        if (dueIndex < due.size()) {
            heads.addAll(due.subList(dueIndex, due.size()));
        }
        due = List.of();
        dueIndex = 0;
    }

    private void leaveBatch(Instant dueAt) {
        if (batchReordered) {
            deferRest(batchIndex, dueAt);
            newCursor = batchLastSeq;
        }
        batch = List.of();
        batchReordered = false;
        logOpen = false;
    }

    private Step endBatch() {
        if (batchReordered) {
            newCursor = batchLastSeq;
        }
        batch = List.of();
        batchReordered = false;
        logOpen = false;
        return end();
    }

    private Step end() {
        ended = true;
        return Step.END;
    }

    private void advance(long seq) {
        if (!batchReordered) {
            newCursor = seq;
        }
    }

    /** The records of the batch from {@code from} on that were not handled wait in the pending set. */
    private void deferRest(int from, Instant dueAt) {
        for (int j = from; j < batch.size(); j++) {
            LogRecord rec = batch.get(j);
            Event<?> e = rec.event();
            if (!wants.test(e) || pendingSeqs.contains(rec.sequence())) {
                continue;
            }
            String scope = scopeOf(e, rec.sequence());
            ArrayDeque<Pending> dq = scopes.get(scope);
            if (dq != null && ordering != OrderingMode.NONE) {
                park(dq, pending(e, rec.sequence(), scope, true, 0, null, List.of(), 0));
            } else {
                newHead(pending(e, rec.sequence(), scope, false, 0, dueOf(e, dueAt), List.of(), 0));
            }
        }
    }

    // ---- outcomes ----

    private Verdict fail(
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
        RetryPolicy policy = retries.apply(e.type());
        failed++;
        if (policy.allowsRetry(error, attempt)) {
            Duration delay = error instanceof RetryAfterException ra
                    ? ra.delay()
                    : policy.delayAfter(attempt, random.nextDouble());
            if (delay.isNegative()) {
                delay = Duration.ZERO;
            } else if (delay.compareTo(MAX_RETRY_DELAY) > 0) {
                delay = MAX_RETRY_DELAY;
            }
            Pending p = pending(e, seq, scope, false, attempt, now.plus(delay), errors, replayCount);
            if (isHead) {
                ArrayDeque<Pending> dq = scopes.get(scope);
                dq.pollFirst();
                dq.addFirst(p);
                heads.add(p);
                upsert(p);
            } else {
                newHead(p);
            }
            retried++;
            lastRetryAt = p.dueAt();
            return Verdict.RETRY;
        }
        String reason = policy.isRetryable(error)
                ? "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s") + ": " + describe(error)
                : "permanent failure: " + describe(error);
        lastDeadLetter = new DeadLetter(ids.get(), subscription, lane, seq, e, errors, reason, now, replayCount, false);
        newDeadLetters.add(lastDeadLetter);
        deadLettered++;
        if (isHead) {
            finishHead(scope);
        }
        return Verdict.DEAD_LETTERED;
    }

    /** An error for a dead letter's reason: its message, after its class unless the class says nothing more. */
    static String describe(Throwable error) {
        String message = error.getMessage();
        if (error instanceof PermanentFailureException && message != null && !message.isBlank()) {
            return message;
        }
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
    private void finishHead(String scope) {
        ArrayDeque<Pending> dq = scopes.get(scope);
        Pending done = dq.pollFirst();
        remove(done.sequence());
        Pending next = dq.pollFirst();
        if (next == null) {
            scopes.remove(scope);
            return;
        }
        Pending head = next.asHead(dueOf(next.event(), clock.instant()));
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

    private Pending pending(
            Event<?> e,
            long seq,
            String scope,
            boolean parked,
            int attempt,
            Instant dueAt,
            List<AttemptError> errors,
            int replayCount) {
        return new Pending(subscription, lane, seq, scope, parked, attempt, dueAt, errors, replayCount, e);
    }

    private String scopeOf(Event<?> e, long seq) {
        return switch (ordering) {
            case STRICT -> "";
            case PER_KEY -> e.orderingKey();
            case NONE -> "#" + seq;
        };
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

    // ---- committing ----

    /** Whether anything changed since the last commit. */
    public boolean hasChanges() {
        return newCursor != Commit.UNCHANGED || hasChangesBeyondCursor();
    }

    /** Whether anything but the cursor changed since the last commit. */
    private boolean hasChangesBeyondCursor() {
        return !upserts.isEmpty() || !removals.isEmpty() || !newDeadLetters.isEmpty() || !removedDeadLetters.isEmpty();
    }

    /** Whether the changes include dead letters added or taken back. */
    public boolean deadLettersChanged() {
        return !newDeadLetters.isEmpty() || !removedDeadLetters.isEmpty();
    }

    /** The dead letters added since the last commit. */
    public List<DeadLetter> newDeadLetters() {
        return List.copyOf(newDeadLetters);
    }

    /** The changes since the last commit as one atomic commit, or null when there are none. */
    public Commit takeCommit(long fence) {
        if (!hasChanges()) {
            return null;
        }
        return new Commit(
                subscription,
                lane,
                newCursor,
                upserts.isEmpty() ? List.of() : List.copyOf(upserts.values()),
                removals.isEmpty() ? List.of() : List.copyOf(removals),
                newDeadLetters.isEmpty() ? List.of() : newDeadLetters,
                removedDeadLetters.isEmpty() ? List.of() : removedDeadLetters,
                delivered == 0 && failed == 0 && retried == 0 && deadLettered == 0
                        ? Tally.ZERO
                        : new Tally(delivered, failed, retried, deadLettered),
                fence);
    }

    /** The commit from {@link #takeCommit} was stored: it becomes the state to start from. */
    public void committed() {
        if (newCursor != Commit.UNCHANGED) {
            cursor = newCursor;
        }
        clearChanges();
    }

    /**
     * Keeps the state but forgets that it must be stored, for a subscription that lives only in memory
     * (streams).
     */
    public void discardCommit() {
        committed();
    }

    private void clearChanges() {
        newCursor = Commit.UNCHANGED;
        upserts.clear();
        removals.clear();
        newDeadLetters.clear();
        removedDeadLetters.clear();
        delivered = 0;
        failed = 0;
        retried = 0;
        deadLettered = 0;
    }

    // ---- what others may know (published by the owner as a snapshot) ----

    /** The committed cursor. */
    public long cursor() {
        return cursor;
    }

    /** Scopes with a head waiting (a retry, a delay, a reprocessed event). */
    public int dueCount() {
        return scopes.size();
    }

    /** Entries parked behind a head. */
    public int parkedCount() {
        int parked = 0;
        for (ArrayDeque<Pending> dq : scopes.values()) {
            parked += dq.size() - 1;
        }
        return parked;
    }

    /** The lowest pending sequence, {@link Long#MAX_VALUE} when none is pending. */
    public long minPendingSequence() {
        long min = Long.MAX_VALUE;
        for (Long seq : pendingSeqs) {
            min = Math.min(min, seq);
        }
        return min;
    }

    /** When the earliest head is due, or null when none waits. */
    public Instant nextDue() {
        Pending next = heads.peek();
        return next == null ? null : next.dueAt();
    }

    /** Whether a STRICT lane is held by a head (the log waits behind it). */
    public boolean blocksLog() {
        return ordering == OrderingMode.STRICT && !scopes.isEmpty();
    }

    /** Whether the event at this sequence is pending (retry, delay, parked). */
    public boolean isPending(long sequence) {
        return pendingSeqs.contains(sequence);
    }
}
