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
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers one lane to one subscription, in order. It owns the subscription's state on that lane: the
 * cursor, and the pending entries grouped by ordering scope (the head of a scope waits for its due time;
 * the rest are parked behind it). All outcomes of a pass are committed to the journal in one atomic step.
 *
 * <p>One thread at a time runs a pass (the runner); it releases the state lock only while the handler
 * runs. If a handler overruns its timeout it is interrupted; if it still has not returned at twice the
 * timeout, the watchdog fails the delivery, bumps the generation (the stuck thread's later results are
 * ignored) and starts a fresh runner.
 */
final class LaneWorker {
    private static final Logger log = LoggerFactory.getLogger(LaneWorker.class);
    private static final Result SUCCESS = new Result(Outcome.SUCCESS, null, null);
    private static final Duration COMMIT_BACKOFF = Duration.ofSeconds(1);
    private static final Comparator<Pending> BY_DUE =
            Comparator.comparing(Pending::dueAt).thenComparingLong(Pending::sequence);
    private static final Comparator<Pending> BY_PRIORITY = Comparator.<Pending>comparingInt(
                    p -> -p.event().priority())
            .thenComparing(Pending::dueAt)
            .thenComparingLong(Pending::sequence);

    private enum Outcome {
        SUCCESS,
        FAILED,
        PAUSED
    }

    private record Result(Outcome outcome, Throwable error, Duration pause) {}

    final Keel keel;
    final SubscriptionState sub;
    final int lane;
    private final Journal journal;
    private final String name;
    private final OrderingMode ordering;
    private final Duration timeout;
    private final Class<?> payloadType;

    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger runner = new AtomicInteger();
    private volatile int generation = 1;

    volatile long cursor;
    private long newCursor = Commit.UNCHANGED;
    private boolean batchReordered;

    private final HashMap<String, ArrayDeque<Pending>> scopes = new HashMap<>();
    private final PriorityQueue<Pending> heads = new PriorityQueue<>(BY_DUE);
    private final HashSet<Long> pendingSeqs = new HashSet<>();
    volatile int dueCount;
    volatile int parkedCount;

    private final LinkedHashMap<Long, Pending> upserts = new LinkedHashMap<>();
    private final HashSet<Long> removals = new HashSet<>();
    private final List<DeadLetter> newDeadLetters = new ArrayList<>();
    private final List<String> removedDeadLetters = new ArrayList<>();
    final ConcurrentLinkedQueue<DeadLetter> reprocessRequests = new ConcurrentLinkedQueue<>();

    private volatile boolean paused;
    private volatile long pausedUntil;

    private final Object slot = new Object();
    private volatile long inflightStart;
    private Thread inflightThread;
    private boolean timedOut;
    private volatile boolean warned;
    private Object current;

    volatile Thread thread;
    volatile boolean sleeping;

    private final ConcurrentHashMap<String, Counter[]> counters = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Timer> timers = new ConcurrentHashMap<>();

    LaneWorker(Keel keel, SubscriptionState sub, int lane) {
        this.keel = keel;
        this.sub = sub;
        this.lane = lane;
        this.journal = keel.journal();
        this.name = sub.name;
        this.ordering = sub.subscription.policy().ordering();
        this.timeout = sub.subscription.policy().timeout();
        this.payloadType = sub.subscription.payloadType();
    }

    /** Loads the cursor and the pending entries; a subscription new to the journal starts at the head. */
    void load() {
        lock.lock();
        try {
            scopes.clear();
            heads.clear();
            pendingSeqs.clear();
            upserts.clear();
            removals.clear();
            newDeadLetters.clear();
            removedDeadLetters.clear();
            newCursor = Commit.UNCHANGED;
            if (sub.subscription.ephemeral()) {
                cursor = journal.head(lane);
                return;
            }
            var stored = journal.cursor(name, lane);
            cursor = stored.isPresent() ? stored.getAsLong() : journal.head(lane);
            List<Pending> all = journal.pending(name, lane);
            for (Pending p : all) {
                if (!p.parked()) {
                    ArrayDeque<Pending> dq = scopes.computeIfAbsent(p.scope(), k -> new ArrayDeque<>());
                    dq.addFirst(p);
                    heads.add(p);
                    pendingSeqs.add(p.sequence());
                }
            }
            for (Pending p : all) {
                if (p.parked()) {
                    ArrayDeque<Pending> dq = scopes.get(p.scope());
                    if (dq == null) {
                        // Its head is gone (written by an older version or cut short): it becomes the head.
                        Pending head = p.asHead(keel.clock().instant());
                        scopes.computeIfAbsent(p.scope(), k -> new ArrayDeque<>())
                                .add(head);
                        heads.add(head);
                        upserts.put(head.sequence(), head);
                    } else {
                        dq.addLast(p);
                    }
                    pendingSeqs.add(p.sequence());
                }
            }
            recount();
        } finally {
            lock.unlock();
        }
    }

    /** One pass: reprocess requests, due pending entries, then a batch from the log. Returns work done. */
    int runOnce() {
        int gen = generation;
        if (!runner.compareAndSet(0, gen)) {
            return 0;
        }
        lock.lock();
        try {
            if (gen != generation || isPaused()) {
                return 0;
            }
            int work = applyReprocessRequests();
            work += deliverDue(gen);
            if (gen == generation && !isPaused() && !(ordering == OrderingMode.STRICT && !scopes.isEmpty())) {
                work += deliverLog(gen);
            }
            if (gen == generation) {
                flush();
            }
            return work;
        } finally {
            if (lock.isHeldByCurrentThread()) {
                lock.unlock();
            }
            runner.compareAndSet(gen, 0);
        }
    }

    int generation() {
        return generation;
    }

    // ---- delivery from the pending set ----

    private int deliverDue(int gen) {
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
            if (isPaused()) {
                heads.addAll(due.subList(i, due.size()));
                break;
            }
            current = p;
            Result r = invoke(p.event(), p.attempt() + 1, p.errors(), p.sequence(), p.replayCount());
            if (gen != generation) {
                return work;
            }
            current = null;
            work++;
            now = keel.clock().instant();
            switch (r.outcome()) {
                case SUCCESS -> {
                    sub.delivered.increment();
                    finishHead(p.scope(), now);
                }
                case PAUSED -> {
                    pause(r.pause());
                    heads.addAll(due.subList(i, due.size()));
                    return work;
                }
                case FAILED ->
                    fail(
                            p.event(),
                            p.sequence(),
                            p.scope(),
                            p.attempt() + 1,
                            p.errors(),
                            p.replayCount(),
                            r.error(),
                            true,
                            now);
            }
        }
        return work;
    }

    // ---- delivery from the log ----

    private int deliverLog(int gen) {
        long from = newCursor != Commit.UNCHANGED ? newCursor : cursor;
        List<LogRecord> batch = journal.read(lane, from, keel.batchSize());
        if (batch.isEmpty()) {
            return 0;
        }
        long lastSeq = batch.getLast().sequence();
        batchReordered = ordering != OrderingMode.STRICT && hasPriorities(batch);
        if (batchReordered) {
            batch = reorder(batch);
        }
        int work = 0;
        for (int i = 0; i < batch.size(); i++) {
            LogRecord rec = batch.get(i);
            Event<?> e = rec.event();
            long seq = rec.sequence();
            if (!sub.subscription.matches(e.type()) || (!pendingSeqs.isEmpty() && pendingSeqs.contains(seq))) {
                advance(seq);
                continue;
            }
            if (ordering != OrderingMode.NONE && !scopes.isEmpty()) {
                String scope = scopeOf(e, seq);
                ArrayDeque<Pending> dq = scopes.get(scope);
                if (dq != null) {
                    Pending parked = new Pending(name, lane, seq, scope, true, 0, null, List.of(), 0, e);
                    dq.addLast(parked);
                    pendingSeqs.add(seq);
                    upsert(parked);
                    advance(seq);
                    work++;
                    continue;
                }
            }
            if (e.deliverAt() != null) {
                Instant now = keel.clock().instant();
                if (e.deliverAt().isAfter(now)) {
                    newHead(new Pending(name, lane, seq, scopeOf(e, seq), false, 0, e.deliverAt(), List.of(), 0, e));
                    advance(seq);
                    work++;
                    if (ordering == OrderingMode.STRICT) {
                        break;
                    }
                    continue;
                }
            }
            current = rec;
            Result r = invoke(e, 1, List.of(), seq, 0);
            if (gen != generation) {
                return work;
            }
            current = null;
            work++;
            if (r == SUCCESS) {
                sub.delivered.increment();
                advance(seq);
                continue;
            }
            if (r.outcome() == Outcome.PAUSED) {
                pause(r.pause());
                if (batchReordered) {
                    deferRest(batch, i, r.pause());
                    newCursor = lastSeq;
                }
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
                return work;
            }
        }
        if (batchReordered) {
            newCursor = lastSeq;
        }
        return work;
    }

    private void advance(long seq) {
        if (!batchReordered) {
            newCursor = seq;
        }
    }

    /** After a pause in a reordered batch: the records not yet delivered wait in the pending set. */
    private void deferRest(List<LogRecord> batch, int from, Duration pause) {
        Instant due = keel.clock().instant().plus(pause);
        for (int j = from; j < batch.size(); j++) {
            LogRecord rec = batch.get(j);
            if (!sub.subscription.matches(rec.event().type()) || pendingSeqs.contains(rec.sequence())) {
                continue;
            }
            String scope = scopeOf(rec.event(), rec.sequence());
            ArrayDeque<Pending> dq = scopes.get(scope);
            if (dq != null && ordering != OrderingMode.NONE) {
                Pending parked =
                        new Pending(name, lane, rec.sequence(), scope, true, 0, null, List.of(), 0, rec.event());
                dq.addLast(parked);
                pendingSeqs.add(rec.sequence());
                upsert(parked);
            } else {
                newHead(new Pending(name, lane, rec.sequence(), scope, false, 0, due, List.of(), 0, rec.event()));
            }
        }
    }

    private static boolean hasPriorities(List<LogRecord> batch) {
        int first = batch.getFirst().event().priority();
        for (int i = 1; i < batch.size(); i++) {
            if (batch.get(i).event().priority() != first) {
                return true;
            }
        }
        return false;
    }

    /** Higher priority first among the heads of each key; same-key order is kept. */
    private static List<LogRecord> reorder(List<LogRecord> batch) {
        LinkedHashMap<String, ArrayDeque<LogRecord>> byKey = new LinkedHashMap<>();
        for (LogRecord r : batch) {
            byKey.computeIfAbsent(r.event().orderingKey(), k -> new ArrayDeque<>())
                    .add(r);
        }
        PriorityQueue<ArrayDeque<LogRecord>> pick = new PriorityQueue<>(Comparator.<ArrayDeque<LogRecord>>comparingInt(
                        q -> -q.peekFirst().event().priority())
                .thenComparingLong(q -> q.peekFirst().sequence()));
        pick.addAll(byKey.values());
        List<LogRecord> out = new ArrayList<>(batch.size());
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
            count(e.type(), 1);
            log.debug(
                    "subscription '{}' will retry event {} ({}) at {}: attempt {} failed: {}",
                    name,
                    e.id(),
                    e.type(),
                    p.dueAt(),
                    attempt,
                    error.toString());
        } else {
            String reason = policy.isRetryable(error)
                    ? "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s") + ": " + describe(error)
                    : "permanent failure: " + describe(error);
            DeadLetter d = new DeadLetter(EventIds.next(), name, lane, seq, e, errors, reason, now, replayCount, false);
            newDeadLetters.add(d);
            sub.deadLettered.increment();
            count(e.type(), 2);
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
        Instant due =
                next.event().deliverAt() != null && next.event().deliverAt().isAfter(now)
                        ? next.event().deliverAt()
                        : now;
        Pending head = next.asHead(due);
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
        int work = 0;
        DeadLetter d;
        while ((d = reprocessRequests.poll()) != null) {
            if (pendingSeqs.contains(d.sequence()) || removedDeadLetters.contains(d.id())) {
                continue;
            }
            if (journal.deadLetter(d.id()).isEmpty()) {
                continue;
            }
            Instant now = keel.clock().instant();
            String scope = scopeOf(d.event(), d.sequence());
            ArrayDeque<Pending> dq = scopes.get(scope);
            if (dq != null) {
                Pending parked = new Pending(
                        name, lane, d.sequence(), scope, true, 0, null, d.errors(), d.replayCount() + 1, d.event());
                dq.addLast(parked);
                pendingSeqs.add(d.sequence());
                upsert(parked);
            } else {
                newHead(new Pending(
                        name, lane, d.sequence(), scope, false, 0, now, d.errors(), d.replayCount() + 1, d.event()));
            }
            removedDeadLetters.add(d.id());
            work++;
        }
        return work;
    }

    private void flush() {
        boolean changed = !upserts.isEmpty() || !removals.isEmpty();
        if (newCursor == Commit.UNCHANGED && !changed && newDeadLetters.isEmpty() && removedDeadLetters.isEmpty()) {
            return;
        }
        int addedDeadLetters = newDeadLetters.size();
        int removedCount = removedDeadLetters.size();
        if (!sub.subscription.ephemeral()) {
            Commit c = new Commit(
                    name,
                    lane,
                    newCursor,
                    upserts.isEmpty() ? List.of() : List.copyOf(upserts.values()),
                    removals.isEmpty() ? List.of() : List.copyOf(removals),
                    newDeadLetters,
                    removedDeadLetters);
            try {
                journal.commit(c);
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
        } else if (addedDeadLetters > 0) {
            log.warn("stream subscription '{}' dropped {} events it could not deliver", name, addedDeadLetters);
            addedDeadLetters = 0;
        }
        if (newCursor != Commit.UNCHANGED) {
            cursor = newCursor;
            newCursor = Commit.UNCHANGED;
        }
        upserts.clear();
        removals.clear();
        newDeadLetters.clear();
        removedDeadLetters.clear();
        if (changed) {
            recount();
        }
        if (addedDeadLetters > 0 || removedCount > 0) {
            keel.onDeadLetterChange(sub, addedDeadLetters - removedCount);
        }
    }

    private void recount() {
        int due = 0;
        int parked = 0;
        for (ArrayDeque<Pending> dq : scopes.values()) {
            due++;
            parked += dq.size() - 1;
        }
        dueCount = due;
        parkedCount = parked;
    }

    // ---- the handler call ----

    private Result invoke(Event<?> event, int attempt, List<AttemptError> errors, long seq, int replayCount) {
        lock.unlock();
        try {
            return call(event, attempt, errors, seq, replayCount);
        } finally {
            lock.lock();
        }
    }

    private Result call(Event<?> event, int attempt, List<AttemptError> errors, long seq, int replayCount) {
        Event<?> converted;
        try {
            converted = keel.codec().convert(event, payloadType);
        } catch (PermanentFailureException e) {
            return new Result(Outcome.FAILED, e, null);
        }
        Delivery<?> delivery = new Delivery<>(name, converted, attempt, errors, lane, seq, replayCount);
        Span span = keel.telemetry().startConsumer(name, event, attempt);
        Scope scope = span == null ? null : span.makeCurrent();
        Delivery<?> outer = keel.currentDelivery.get();
        keel.currentDelivery.set(delivery);
        boolean timed = timeout != null;
        if (timed) {
            startSlot();
        }
        long start = System.nanoTime();
        Result result;
        try {
            sub.chain.proceed(delivery);
            result = SUCCESS;
        } catch (DeliveryPausedException e) {
            result = new Result(Outcome.PAUSED, e, e.retryAfter());
        } catch (StackOverflowError e) {
            result = new Result(Outcome.FAILED, e, null);
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {
            result = new Result(Outcome.FAILED, e, null);
        } finally {
            if (outer == null) {
                keel.currentDelivery.remove();
            } else {
                keel.currentDelivery.set(outer);
            }
        }
        long took = System.nanoTime() - start;
        if (timed && endSlot() && result.outcome() == Outcome.FAILED) {
            DeliveryTimeoutException te = new DeliveryTimeoutException(name, event.id(), timeout);
            te.initCause(result.error());
            result = new Result(Outcome.FAILED, te, null);
        }
        if (span != null) {
            if (result.outcome() == Outcome.FAILED) {
                span.setStatus(StatusCode.ERROR, String.valueOf(result.error().getMessage()));
                span.recordException(result.error());
            }
            scope.close();
            span.end();
        }
        timer(event.type()).record(took, TimeUnit.NANOSECONDS);
        if (result.outcome() == Outcome.SUCCESS) {
            count(event.type(), 0);
        } else if (result.outcome() == Outcome.PAUSED) {
            count(event.type(), 3);
        }
        return result;
    }

    private static final String[] OUTCOMES = {"success", "retry", "dead_letter", "paused"};

    private void count(String type, int outcome) {
        Counter[] c = counters.get(type);
        if (c == null) {
            c = counters.computeIfAbsent(type, t -> {
                Counter[] made = new Counter[OUTCOMES.length];
                for (int i = 0; i < made.length; i++) {
                    made[i] = keel.telemetry().delivery(name, t, OUTCOMES[i]);
                }
                return made;
            });
        }
        c[outcome].increment();
    }

    private Timer timer(String type) {
        Timer t = timers.get(type);
        return t != null
                ? t
                : timers.computeIfAbsent(type, k -> keel.telemetry().duration(name, k));
    }

    // ---- pauses, timeouts and the watchdog ----

    private void pause(Duration d) {
        pausedUntil = System.nanoTime() + Math.max(1, d.toNanos());
        paused = true;
        sub.pauses.increment();
    }

    boolean isPaused() {
        if (paused && System.nanoTime() - pausedUntil < 0) {
            return true;
        }
        paused = false;
        return false;
    }

    private void startSlot() {
        synchronized (slot) {
            inflightThread = Thread.currentThread();
            timedOut = false;
            warned = false;
            long now = System.nanoTime();
            inflightStart = now == 0 ? 1 : now;
        }
    }

    /** Ends the in-flight slot; true when the attempt overran its timeout. Clears a timeout interrupt. */
    private boolean endSlot() {
        boolean overran;
        synchronized (slot) {
            inflightStart = 0;
            overran = timedOut;
            timedOut = false;
        }
        if (overran) {
            Thread.interrupted();
        }
        return overran;
    }

    /** Called by the watchdog: warns at 80% of the timeout, interrupts at 100%, abandons at 200%. */
    void watch(long now) {
        long start = inflightStart;
        if (start == 0 || timeout == null) {
            return;
        }
        long budget = timeout.toNanos();
        long elapsed = now - start;
        if (elapsed >= budget / 5 * 4 && !warned) {
            warned = true;
            sub.timeoutWarnings.increment();
            Object c = current;
            log.warn(
                    "subscription '{}' lane {}: a delivery{} has used 80% of its {} ms timeout",
                    name, lane, describeCurrent(c), timeout.toMillis());
        }
        if (elapsed >= budget) {
            synchronized (slot) {
                if (inflightStart == start && !timedOut) {
                    timedOut = true;
                    inflightThread.interrupt();
                }
            }
        }
        if (elapsed >= 2 * budget && keel.isStarted()) {
            abandon(start);
        }
    }

    private static String describeCurrent(Object c) {
        if (c instanceof LogRecord r) {
            return " of event " + r.event().id();
        }
        if (c instanceof Pending p) {
            return " of event " + p.event().id();
        }
        return "";
    }

    private void abandon(long observedStart) {
        Thread stuck;
        lock.lock();
        try {
            if (inflightStart != observedStart || current == null) {
                return;
            }
            generation++;
            stuck = inflightThread;
            inflightStart = 0;
            Instant now = keel.clock().instant();
            Object c = current;
            current = null;
            String eventId = c instanceof LogRecord r
                    ? r.event().id()
                    : ((Pending) c).event().id();
            DeliveryTimeoutException error = new DeliveryTimeoutException(name, eventId, timeout);
            if (c instanceof LogRecord r) {
                fail(r.event(), r.sequence(), scopeOf(r.event(), r.sequence()), 1, List.of(), 0, error, false, now);
                if (!batchReordered) {
                    newCursor = r.sequence();
                }
            } else {
                Pending p = (Pending) c;
                fail(
                        p.event(),
                        p.sequence(),
                        p.scope(),
                        p.attempt() + 1,
                        p.errors(),
                        p.replayCount(),
                        error,
                        true,
                        now);
            }
            heads.clear();
            for (ArrayDeque<Pending> dq : scopes.values()) {
                Pending h = dq.peekFirst();
                if (h != null && !h.parked()) {
                    heads.add(h);
                }
            }
            flush();
            runner.set(0);
        } finally {
            lock.unlock();
        }
        log.error(
                "subscription '{}' lane {}: a handler ignored its interrupt and ran past twice its {} ms timeout on thread {};"
                        + " the attempt is failed and the lane goes on with a new thread. Make the handler honour interrupts or time out on its own",
                name,
                lane,
                timeout.toMillis(),
                stuck);
        keel.restart(this);
    }

    // ---- queries for the loop, stats and shutdown ----

    long lag() {
        return Math.max(0, journal.head(lane) - cursor);
    }

    boolean inFlight() {
        return inflightStart != 0;
    }

    /** Nanoseconds until something may be due, at most {@code max}. */
    long waitNanos(long max) {
        long wait = max;
        long now = System.nanoTime();
        if (paused) {
            wait = Math.min(wait, pausedUntil - now);
        }
        lock.lock();
        try {
            Pending next = heads.peek();
            if (next != null) {
                long until =
                        Duration.between(keel.clock().instant(), next.dueAt()).toNanos();
                wait = Math.min(wait, until);
            }
        } finally {
            lock.unlock();
        }
        return Math.max(0, wait);
    }

    /** Whether a pass now would find work. */
    boolean hasWork() {
        if (!reprocessRequests.isEmpty()) {
            return true;
        }
        if (isPaused()) {
            return false;
        }
        if (waitNanos(1) == 0) {
            return true;
        }
        return journal.head(lane) > cursor && !(ordering == OrderingMode.STRICT && dueCount > 0);
    }

    /** The highest sequence of this lane the subscription no longer needs: its cursor, or before its oldest pending entry. */
    long prunePoint() {
        lock.lock();
        try {
            long point = cursor;
            for (Long seq : pendingSeqs) {
                point = Math.min(point, seq - 1);
            }
            return point;
        } finally {
            lock.unlock();
        }
    }

    /** Whether nothing is left to do now: no lag, nothing due, nothing in flight. */
    boolean isDrained() {
        return !inFlight()
                && reprocessRequests.isEmpty()
                && (lag() == 0 || (ordering == OrderingMode.STRICT && dueCount > 0))
                && waitNanos(1) > 0;
    }
}
