package dev.keel.internal.lanes;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.Delivery;
import dev.keel.DeliveryCancelledException;
import dev.keel.DeliveryTimeoutException;
import dev.keel.Event;
import dev.keel.EventIds;
import dev.keel.RunningDelivery;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.spi.Commit;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.Pending;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers one lane to one subscription: it schedules passes of the lane's {@link LaneLedger}, calls the
 * handler for each attempt, watches timeouts, and commits. The ordering decisions are the ledger's.
 *
 * <h2>One owner, by construction</h2>
 *
 * The lane's state (a {@link Holding}: the ledger, the fence it was loaded under, and the runner's pause and
 * commit clocks) is reachable only through this worker's {@link #baton}:
 *
 * <ul>
 *   <li>the {@code Holding} itself when nobody runs a pass;
 *   <li>{@code null} while a thread runs a pass: that thread took it with a compare-and-set and is its owner;
 *   <li>an {@link InFlight} during a pass that calls handlers under a timeout: before calling a handler the
 *       owner marks the state given up there, and afterwards it must win it back with a compare-and-set on
 *       that delivery's word (which names the delivery, so a compare-and-set meant for one can never succeed
 *       on the next). Between those deliveries the word says none runs and the owner holds the state.
 * </ul>
 *
 * The watchdog, at twice a delivery's timeout, may win that compare-and-set instead: it then takes the state
 * off the baton and hands it to a new runner thread, which records the timed-out attempt and carries on. The stuck thread, whenever its
 * handler returns, loses the compare-and-set and leaves without touching anything. The handler itself runs
 * in {@link Deliverer}, which has no reference to the state. So at any moment exactly one thread can reach
 * the state, and a hand-over is a compare-and-set, never a share.
 *
 * <p>Other threads talk to a worker through its mailbox (reprocess orders, a reload after a lease change,
 * retirement) and read the summaries the owner publishes after each pass (the committed cursor, what waits,
 * until when the lane pauses): volatile fields, each true when written, not a consistent snapshot.
 *
 * <p>It is long because the runner's loop, the hand-over and the watchdog's side of it belong together: the
 * protocol can only be checked by reading them side by side.
 */
public final class LaneWorker {
    private static final Logger log = LoggerFactory.getLogger(LaneWorker.class);
    /** {@link VirtualMachineError}s in a row on one event before one counts as a failed attempt. */
    static final int VM_ERRORS_BEFORE_ATTEMPT = 3;

    private static final Duration BACKOFF = Duration.ofSeconds(1);
    private static final Duration LEASE_LOST_BACKOFF = Duration.ofMillis(100);
    private static final int LOST = -1;
    private static final long IDLE_PARK_NANOS = Duration.ofMillis(200).toNanos();
    /**
     * Idle runners first nap this long, up to {@link #NAPS} times, checking for work in between; producers do
     * not wake nappers. Only then do they sleep until signalled. Under load the next events arrive within
     * microseconds, and a nap nobody has to interrupt costs far less than a park and an unpark per emit.
     */
    private static final long NAP_NANOS = 20_000;

    private static final int NAPS = 3;
    /** Napping pays only under load: when the moving average of pass sizes is at least this. */
    private static final int NAP_WHEN_BATCH = 8;
    /** The shortest sleep after passes that found nothing to do: a runner never asks again at once. */
    private static final long MIN_SLEEP_NANOS = 100_000;
    /** How long a runner waits when another thread runs a pass on its lane. */
    private static final long BUSY_PARK_NANOS = 1_000_000;

    private final LaneContext ctx;
    private final SubscriptionRuntime sub;
    private final int lane;
    private final String name;
    private final Duration timeout;
    private final long timeoutNanos;
    /** How long past the timeout the handler is left to finish before it is interrupted. */
    private final long graceNanos;
    /** When the watchdog interrupts (timeout + grace) and takes over (twice the timeout + grace), saturated. */
    private final long interruptAtNanos;

    private final long takeOverAtNanos;

    private final boolean ephemeral;
    private final long commitIntervalNanos;
    private final Deliverer deliverer;
    private final Telemetry telemetry;

    /** See the class comment: a {@link Holding}, null, or an {@link InFlight}. */
    private final AtomicReference<Object> baton;

    // ---- the mailbox ----
    private final ConcurrentLinkedQueue<String> reprocessOrders = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean reload = new AtomicBoolean();

    private volatile boolean retired;
    /** Retired and done: whatever a pass of it still does is never committed (another runtime owns the name). */
    private volatile boolean sealed;

    private final AtomicInteger idleWaiters = new AtomicInteger();
    /** Taken around each commit and to seal: no commit runs once the worker is sealed. */
    private final ReentrantLock sealing = new ReentrantLock();
    /** The delivery without a timeout running now, and the interrupt protocol that goes with it. */
    private final DeliveryGate gate = new DeliveryGate();
    /** The delivery running now, for operators' lists: written (release) by the delivering thread only. */
    private final AtomicReference<Delivery<?>> showing = new AtomicReference<>();
    /**
     * The delivery an operator cancelled, null for none: set by the cancelling thread just before its interrupt,
     * cleared by it when the interrupt missed, and by the runner after every delivery.
     */
    private final AtomicReference<Delivery<?>> cancelTarget = new AtomicReference<>();

    // ---- for other threads ----
    private volatile long publishedCursor;
    private volatile int publishedDue;
    private volatile int publishedParked;
    private volatile long publishedMinPending = Long.MAX_VALUE;
    private volatile Instant publishedNextDue;
    private volatile long publishedPausedUntil;
    private volatile boolean publishedBlocksLog;
    /** Deliveries this worker made, written by the holder of the state only (one writer at a time). */
    private volatile long delivered;

    private final AtomicReference<Thread> runner = new AtomicReference<>();
    private volatile boolean sleeping;

    /** The lane's state, owned by whoever holds the baton. */
    static final class Holding {
        final LaneLedger ledger;
        /** The fencing token the state was loaded under: commits carry it, so a stale owner writes nothing. */
        long fence = Commit.NO_FENCE;

        long pausedUntil;
        boolean paused;
        long lastCommitNanos;
        /**
         * Since when outcomes have waited for a commit, on the watchdog's coarse clock; 0 when none wait. Checked
         * between deliveries.
         */
        long heldBackSince;
        /** Deliveries of this pass not yet added to the subscription's counter (one add per pass, not per delivery). */
        long delivered;
        /**
         * The sequence of the event whose handler last hit a {@link VirtualMachineError}, and how often in a row
         * (until that event has an outcome recorded).
         */
        long vmErrorSeq = -1;

        int vmErrors;

        Holding(LaneLedger ledger) {
            this.ledger = ledger;
        }
    }

    LaneWorker(LaneContext ctx, SubscriptionRuntime sub, int lane) {
        this.ctx = ctx;
        this.sub = sub;
        this.lane = lane;
        this.name = sub.name;
        this.timeout = sub.subscription.policy().timeout();
        this.timeoutNanos = timeout == null ? 0 : timeout.toNanos();
        this.graceNanos = sub.subscription.policy().timeoutGrace().toNanos();
        this.interruptAtNanos = saturatedAdd(timeoutNanos, graceNanos);
        this.takeOverAtNanos = saturatedAdd(saturatedAdd(timeoutNanos, timeoutNanos), graceNanos);
        this.ephemeral = sub.subscription.ephemeral();
        this.commitIntervalNanos = ctx.log().commitInterval().toNanos();
        this.deliverer = new Deliverer(sub, ctx, showing);
        this.telemetry = ctx.telemetry();
        LaneLedger ledger = new LaneLedger(
                name,
                lane,
                sub.subscription.policy().ordering(),
                new Wants(sub.subscription),
                sub.subscription.policy()::retryFor,
                ctx.random(),
                EventIds::next,
                ctx.clock());
        this.baton = new AtomicReference<>(new Holding(ledger));
    }

    public int lane() {
        return lane;
    }

    /** The outcome of a record the store could not read as an event: dead-lettered at once, never delivered. */
    private static final Outcome UNREADABLE = new Outcome.Failure(new dev.keel.PermanentFailureException(
            "the store holds a record here that is not a Keel event (its bytes are the dead letter's data); see"
                    + " the warning the engine logged for its place"));

    /**
     * The subscription's filter (tenant and type) with the last type's answer remembered, as types repeat in
     * runs. Used by the ledger only, so by whoever holds the lane's state.
     */
    private static final class Wants implements java.util.function.Predicate<Event<?>> {
        private final dev.keel.Subscription subscription;
        private String lastType;
        private boolean lastAnswer;

        Wants(dev.keel.Subscription subscription) {
            this.subscription = subscription;
        }

        @Override
        public boolean test(Event<?> e) {
            if (LogRecord.UNREADABLE_TYPE.equals(e.type())) {
                return true; // every subscription dead-letters it: none passes it over unseen
            }
            String tenant = subscription.tenant();
            if (tenant != null && !tenant.equals(e.tenant())) {
                return false;
            }
            String type = e.type();
            if (type != lastType) {
                lastAnswer = subscription.matches(type);
                lastType = type;
            }
            return lastAnswer;
        }
    }

    public SubscriptionRuntime subscription() {
        return sub;
    }

    // ---- loading ----

    /**
     * Loads the cursor and the pending entries now, on the calling thread (at registration): a subscription
     * new to the journal starts at the head of the lane.
     *
     * @throws dev.keel.spi.JournalException when the journal cannot be read
     */
    public void loadNow() {
        Holding h = acquire();
        if (h == null) {
            reload.set(true);
            return;
        }
        try {
            load(h);
            publish(h);
        } finally {
            release(h);
        }
    }

    private void load(Holding h) {
        long fence = ctx.fence(lane); // first: what is read next is what this token may write over
        long head = ctx.log().head(lane);
        if (ephemeral) {
            h.ledger.reset(head, List.of());
            h.fence = fence;
            h.heldBackSince = 0;
            return;
        }
        // Read everything first: if the journal fails here, the state stays as it was and the reload is retried.
        long cursor = ctx.log().openCursor(name, lane, head);
        List<Pending> pending = ctx.log().pending(name, lane);
        h.ledger.reset(cursor, pending);
        h.fence = fence;
        h.heldBackSince = 0; // what was held back is gone with the state it was in
    }

    // ---- the mailbox ----

    /** Asks the owner to take a dead letter back; it does so before its next pass. */
    public void reprocess(String deadLetterId) {
        reprocessOrders.add(deadLetterId);
        wake();
    }

    /** The lane was granted, lost or granted again: reload before the next delivery. */
    public void leaseChanged() {
        reload.set(true);
        wake();
    }

    /** Wakes a runner, sleeping or not. */
    public void wake() {
        Thread t = runner.get();
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    /** Wakes the runner if it sleeps waiting for events (the cheap check for the emit path). */
    public void wakeIfSleeping() {
        if (sleeping) {
            Thread t = runner.get();
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    // ---- the baton ----

    private Holding acquire() {
        Object b = baton.get();
        if (b instanceof Holding h && baton.compareAndSet(b, null)) {
            return h;
        }
        return null;
    }

    private void release(Holding h) {
        baton.set(h);
        if (idleWaiters.get() > 0) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /** Whether no pass runs now. */
    public boolean isIdle() {
        return baton.get() instanceof Holding;
    }

    /** Waits, up to {@code wait}, until no pass runs. Returns whether none does. */
    public boolean awaitIdle(Duration wait) {
        if (isIdle()) {
            return true;
        }
        long deadline = System.nanoTime() + wait.toNanos();
        idleWaiters.incrementAndGet();
        try {
            synchronized (this) {
                while (!isIdle()) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    try {
                        wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return isIdle();
                    }
                }
                return true;
            }
        } finally {
            idleWaiters.decrementAndGet();
        }
    }

    // ---- passes ----

    /**
     * Runs one pass on the calling thread if nobody else runs one: reprocess orders, due pending entries,
     * then a batch of the log. Returns the work done (deliveries and moves).
     */
    public int runOnce() {
        Holding h = acquire();
        if (h == null) {
            return 0;
        }
        int work = runPass(h, null, timeoutNanos > 0 ? new InFlight(Thread.currentThread()) : null);
        return work == LOST ? 0 : work;
    }

    /**
     * A pass over a holding this thread owns, which it gives back afterwards, whatever happens, unless it was
     * taken over meanwhile ({@link #LOST}).
     */
    private int runPass(Holding h, Outcome resumed, InFlight flight) {
        boolean lost = false;
        try {
            int work = pass(h, resumed, flight);
            lost = work == LOST;
            return work;
        } finally {
            if (!lost) {
                release(h);
            }
        }
    }

    /**
     * One pass over a holding this thread owns; with {@code resumed}, the pass the watchdog took over, whose
     * attempt in flight ended so. Returns {@link #LOST} when the state was taken over during a handler call:
     * then this thread no longer owns it and has not touched it since.
     */
    private int pass(Holding h, Outcome resumed, InFlight flight) {
        LaneLedger l = h.ledger;
        try {
            if (resumed != null) {
                account(l.record(resumed), l, resumed, h);
            } else {
                if (ctx.fence(lane) != h.fence) {
                    // The lane's lease changed since the state was loaded (granted, lost, granted again, perhaps
                    // while this worker was being registered): what is stored now is what counts.
                    reload.set(true);
                }
                if (retired || !ctx.holds(lane) || ctx.pausedByStore(sub)) {
                    // Nothing may be delivered; what an earlier pass held back is committed all the same, under
                    // the token the state was loaded with (a lane being given back is still leased until it is
                    // released; one lost already refuses the commit).
                    if (!retired && ctx.fence(lane) == h.fence) {
                        flush(h);
                        publish(h);
                    }
                    return 0;
                }
                if (reload.get() && reload.getAndSet(false)) {
                    try {
                        load(h);
                    } catch (RuntimeException e) {
                        reload.set(true);
                        throw e;
                    }
                }
                takeBackDeadLetters(l);
                if (isPaused(h)) {
                    flush(h);
                    publish(h);
                    return 0;
                }
                l.beginPass();
            }
            Delivery<?>[] causation = ctx.deliveryScope().slot();
            boolean leased = ctx.leased();
            boolean metering = telemetry.metering(); // a registry added mid-pass counts from the next pass
            // Put on the baton at the pass's first timed delivery, for the rest of the pass: between deliveries
            // its word says none runs, and the state is this thread's.
            InFlight f = null;
            boolean commitNow = false; // a poison event's failure, or outcomes that waited long enough
            boolean endedEarly = false;
            while (true) {
                if (ctx.stopping() || retired || !ctx.holds(lane)) {
                    l.leave();
                    break;
                }
                if (leased && ctx.fence(lane) != h.fence) {
                    l.leave();
                    reload.set(true);
                    break;
                }
                if (commitIntervalNanos > 0 && l.hasChanges()) {
                    long now = ctx.coarseNanos();
                    if (h.heldBackSince == 0) {
                        h.heldBackSince = Math.max(1, now);
                    } else if (now - h.heldBackSince >= commitIntervalNanos) {
                        // Outcomes have waited the whole commit interval (a slow pass, perhaps after ones that
                        // held theirs back): end the pass here, so they are committed now and not when it ends.
                        commitNow = true;
                        endedEarly = true;
                        l.leave();
                        break;
                    }
                }
                LaneLedger.Step step = l.next();
                if (step == LaneLedger.Step.END) {
                    break;
                }
                if (step == LaneLedger.Step.READ) {
                    try {
                        read(l);
                    } catch (RuntimeException e) {
                        // Between attempts: commit what this pass and those before it decided, so that the
                        // reload below redoes none of it.
                        l.leave();
                        flush(h);
                        throw e;
                    }
                    continue;
                }
                LogRecord first = l.attemptRecord();
                Event<?> event;
                long seq;
                int attempt;
                List<AttemptError> errors;
                int replays;
                if (first != null) {
                    event = first.event();
                    seq = first.sequence();
                    attempt = 1;
                    errors = List.of();
                    replays = 0;
                } else {
                    event = l.attemptEvent();
                    seq = l.attemptSequence();
                    attempt = l.attemptNumber();
                    errors = l.attemptErrors();
                    replays = l.attemptReplays();
                }
                Outcome o;
                boolean endPass = false; // after a poison event's failure: commit it before anything else
                if (LogRecord.UNREADABLE_TYPE.equals(event.type())) {
                    o = UNREADABLE;
                } else if (timeoutNanos > 0) {
                    if (f == null) {
                        f = flight;
                        f.forPass(h);
                        baton.setRelease(f); // stays there for the rest of the pass
                    }
                    clearStaleCancel();
                    long began = graceNanos > 0 ? System.nanoTime() : 0;
                    f.begin(event, ctx.coarseNanos()); // from here until won back, the state is not this thread's
                    Throwable thrown = null;
                    o = null;
                    try {
                        o = deliverer.deliver(event, seq, attempt, errors, replays, lane, causation);
                    } catch (Throwable t) {
                        thrown = t;
                    }
                    InFlight.Finish finish = f.finish();
                    if (finish == InFlight.Finish.LOST) {
                        return LOST;
                    }
                    Thread.interrupted(); // whatever the handler left set is not the next delivery's
                    if (thrown instanceof VirtualMachineError vme) {
                        if (!poisoned(h, seq)) {
                            reload.set(true); // the attempt is not recorded: start again from what is stored
                            throw vme;
                        }
                        endPass = true;
                    }
                    if (thrown != null) {
                        o = new Outcome.Failure(thrown);
                    }
                    boolean interrupted = finish == InFlight.Finish.INTERRUPTED;
                    if (cancelled(seq, attempt, interrupted)) {
                        o = cancelledOutcome(event);
                    } else if (interrupted) {
                        o = timedOut(o, event);
                    } else if (graceNanos > 0 && o == Outcome.SUCCESS && System.nanoTime() - began >= timeoutNanos) {
                        sub.graceRecoveries.increment(); // past its timeout, within its grace: its success stands
                    }
                } else {
                    clearStaleCancel();
                    gate.enter(ctx.coarseNanos());
                    boolean interrupted = false;
                    try {
                        o = deliverer.deliver(event, seq, attempt, errors, replays, lane, causation);
                    } catch (VirtualMachineError vme) {
                        if (!poisoned(h, seq)) {
                            reload.set(true);
                            throw vme;
                        }
                        endPass = true;
                        o = new Outcome.Failure(vme);
                    } catch (RuntimeException e) {
                        o = new Outcome.Failure(e);
                    } finally {
                        interrupted = gate.leave();
                    }
                    if (cancelled(seq, attempt, interrupted)) {
                        o = cancelledOutcome(event);
                    }
                }
                LaneLedger.Verdict v = l.record(o);
                if (v == LaneLedger.Verdict.DELIVERED && !metering) {
                    // The common case: what account() does for DELIVERED without meters. Keep the two alike.
                    h.delivered++;
                } else {
                    account(v, l, o, h);
                }
                if (h.vmErrors != 0 && seq == h.vmErrorSeq) {
                    h.vmErrors = 0; // the event has an outcome: its count starts again
                    h.vmErrorSeq = -1;
                }
                if (endPass) {
                    // Its failure is committed now: a second poison event further on, which reloads the lane,
                    // would otherwise undo it, and the first would hold the lane again.
                    commitNow = true;
                    l.leave();
                    break;
                }
            }
            int work = l.work();
            if (commitNow || !(work > 0 && mayDeferCommit(h))) {
                flush(h);
            }
            if (endedEarly) {
                work = Math.max(work, 1); // it stopped with work left: the runner goes on at once
            }
            publish(h);
            return work;
        } catch (Error e) {
            // Whatever the ledger did with an attempt is not stored: start again from what is.
            reload.set(true);
            throw e;
        } catch (RuntimeException e) {
            // A journal read failing (what was decided is committed first, see above), or a bug: start again
            // from what is committed, which redoes at most what waited for a commit, and back off.
            log.error(
                    "subscription '{}' lane {}: a delivery pass failed; reloading its committed state in {} ms",
                    name,
                    lane,
                    BACKOFF.toMillis(),
                    e);
            reload.set(true);
            pause(h, BACKOFF);
            publish(h);
            return 0;
        }
    }

    /** Reads the next batch; a gap the log no longer holds (pruned before this subscription read it) is passed. */
    private void read(LaneLedger l) {
        long after = l.readAfter();
        long head = ctx.log().head(lane);
        if (head <= after) {
            l.admit(List.of());
            return;
        }
        List<LogRecord> records = ctx.log().read(lane, after, ctx.batchSize());
        if (!records.isEmpty()) {
            l.admit(records);
            return;
        }
        long now = ctx.log().head(lane);
        if (now <= after) {
            l.admit(List.of()); // the head came down (the store lost records): nothing to skip to
            return;
        }
        head = Math.min(head, now);
        long skipped = l.skipGone(head);
        log.warn(
                "subscription '{}' lane {}: events {} to {} were pruned before it read them; it goes on from {}",
                name,
                lane,
                after + 1,
                head,
                head + 1);
        if (skipped < 0) {
            throw new IllegalStateException("a gap cannot be negative");
        }
    }

    /**
     * Whether a {@link VirtualMachineError} the event's handler hit is to be recorded as a failed attempt: the
     * first ones are not (they may be the JVM's state, not the event's), the third in a row for one event is,
     * so that an event that always exhausts memory cannot hold its lane forever.
     */
    private static boolean poisoned(Holding h, long seq) {
        if (seq == h.vmErrorSeq) {
            h.vmErrors++;
        } else {
            h.vmErrorSeq = seq;
            h.vmErrors = 1;
        }
        return h.vmErrors >= VM_ERRORS_BEFORE_ATTEMPT;
    }

    /**
     * Whether an operator cancelled the delivery just made (this sequence and attempt) and its interrupt landed on
     * it; clears any cancellation, so one that missed its delivery reaches no other.
     */
    private boolean cancelled(long seq, int attempt, boolean interrupted) {
        Delivery<?> c = cancelTarget.get();
        if (c == null) {
            return false;
        }
        cancelTarget.compareAndSet(c, null);
        return interrupted && c.sequence() == seq && c.attempt() == attempt;
    }

    /**
     * Before a delivery begins: no cancel can aim at it yet (it is not shown), so a target still set is left from an
     * earlier one (a delivery whose handler threw a {@link VirtualMachineError}, say) and must not reach this one.
     */
    private void clearStaleCancel() {
        if (cancelTarget.get() != null) {
            cancelTarget.set(null);
        }
    }

    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return sum < 0 ? Long.MAX_VALUE : sum;
    }

    private Outcome cancelledOutcome(Event<?> event) {
        sub.cancellations.increment();
        return new Outcome.Failure(new DeliveryCancelledException(name, event.id()));
    }

    private Outcome timedOut(Outcome o, Event<?> event) {
        if (o instanceof Outcome.Failure f && !(f.error() instanceof DeliveryTimeoutException)) {
            DeliveryTimeoutException te = new DeliveryTimeoutException(name, event.id(), timeout);
            te.initCause(f.error());
            return new Outcome.Failure(te);
        }
        return o;
    }

    private void takeBackDeadLetters(LaneLedger l) {
        String id;
        while ((id = reprocessOrders.poll()) != null) {
            Optional<DeadLetter> found = ctx.deadLetterStore().deadLetter(id);
            if (found.isEmpty()) {
                l.forgetReprocess(id); // deleted, or taken back already: the commit clears the order
                continue;
            }
            DeadLetter d = found.get();
            if (!d.subscription().equals(name) || d.lane() != lane) {
                continue;
            }
            if (!l.reprocess(d)) {
                // Its event is pending again already (or it was taken back in this very pass): nothing to add.
                l.forgetReprocess(id);
            }
        }
    }

    private void account(LaneLedger.Verdict v, LaneLedger l, Outcome o, Holding h) {
        Event<?> event = l.lastEvent();
        String type = event.type();
        boolean metering = telemetry.metering();
        switch (v) {
            case DELIVERED -> {
                h.delivered++;
                if (metering) {
                    sub.meters(type).counters()[0].increment();
                }
            }
            case RETRY -> {
                sub.failedAttempts.increment();
                sub.retriesScheduled.increment();
                sub.meters(type).counters()[1].increment();
                if (log.isDebugEnabled()) {
                    log.debug(
                            "subscription '{}' will retry event {} ({}) at {}: attempt {} failed: {}",
                            name,
                            event.id(),
                            type,
                            l.lastRetryAt(),
                            l.lastAttemptNumber(),
                            ((Outcome.Failure) o).error().toString());
                }
            }
            case DEAD_LETTERED -> {
                sub.failedAttempts.increment();
                sub.deadLettered.increment();
                sub.meters(type).counters()[2].increment();
                log.warn(
                        "subscription '{}' dead-lettered event {} ({}): {}",
                        name,
                        event.id(),
                        type,
                        l.lastDeadLetter().reason());
            }
            case PAUSED -> {
                sub.meters(type).counters()[3].increment();
                sub.pauses.increment();
                pause(h, ((Outcome.Pause) o).duration());
            }
        }
    }

    /** Holds the lane back for a while: a pause a delivery asked for, or a back-off after a failure. */
    private static void pause(Holding h, Duration d) {
        h.pausedUntil = System.nanoTime() + Math.max(1, d.toNanos());
        h.paused = true;
    }

    private static boolean isPaused(Holding h) {
        if (h.paused && System.nanoTime() - h.pausedUntil >= 0) {
            h.paused = false;
        }
        return h.paused;
    }

    /**
     * Whether this pass's commit can wait for the next: the journal allows it and the last commit is recent.
     * The next pass that finds nothing to do commits; so does one that ends on a poison event, one whose lane
     * is being handed over, and one that finds outcomes waiting for longer than the interval (it ends early).
     *
     * <p>The journal's commit interval is the only bound on what waits, as {@link
     * dev.keel.spi.EventLog#commitInterval()} promises, and it holds back every outcome alike: the cursor's
     * advance, retries scheduled and parked keys, dead letters. A bound by count made a busy lane on an engine
     * whose commits take milliseconds (Kafka's transactions) stop for a commit every few pages, fall behind its
     * appends and read them back from the store instead of from memory; committing each failure at once made
     * one failing event in a hundred cost a lane a commit per attempt.
     */
    private boolean mayDeferCommit(Holding h) {
        return commitIntervalNanos > 0
                && !retired
                && !ctx.stopping()
                && ctx.holds(lane) // a lane being handed over commits before it goes
                && h.ledger.hasChanges()
                && System.nanoTime() - h.lastCommitNanos < commitIntervalNanos;
    }

    private void flush(Holding h) {
        LaneLedger l = h.ledger;
        if (!l.hasChanges()) {
            return;
        }
        boolean deadLettersChanged = l.deadLettersChanged();
        if (ephemeral) {
            if (!l.newDeadLetters().isEmpty()) {
                log.warn(
                        "stream subscription '{}' dropped {} events it could not deliver",
                        name,
                        l.newDeadLetters().size());
            }
            l.discardCommit();
            h.heldBackSince = 0;
            return;
        }
        Commit c = l.takeCommit(h.fence);
        sealing.lock(); // a worker is sealed between commits, never during one
        try {
            if (sealed) {
                // Retired for good, and another runtime may own the name now: what this one did is delivered again.
                log.warn(
                        "subscription '{}' lane {}: outcomes of a delivery that outlived the subscription's removal"
                                + " are dropped; its events are delivered again",
                        name,
                        lane);
                reload.set(true);
                return;
            }
            ctx.log().commit(c);
        } catch (LeaseLostException lost) {
            // Another instance holds the lane now: drop what this pass did (it is delivered again) and reload
            // when the lane comes back.
            log.info("subscription '{}' lane {}: {}", name, lane, lost.getMessage());
            reload.set(true);
            pause(h, LEASE_LOST_BACKOFF);
            return;
        } catch (RuntimeException ex) {
            log.warn(
                    "subscription '{}' lane {}: could not commit delivery outcomes ({}); reloading its state and"
                            + " retrying in {} ms",
                    name,
                    lane,
                    ex.toString(),
                    BACKOFF.toMillis());
            reload.set(true);
            pause(h, BACKOFF);
            return;
        } finally {
            sealing.unlock();
        }
        l.committed();
        h.lastCommitNanos = System.nanoTime();
        h.heldBackSince = 0;
        if (deadLettersChanged) {
            ctx.deadLettersChanged(sub);
        }
    }

    /** Publishes what other threads read; each field is written only when it changed. */
    private void publish(Holding h) {
        if (h.delivered != 0) {
            delivered += h.delivered; // one writer: whoever holds the state
            h.delivered = 0;
        }
        LaneLedger l = h.ledger;
        long pausedUntil = h.paused ? h.pausedUntil : 0;
        if (publishedPausedUntil != pausedUntil) {
            publishedPausedUntil = pausedUntil;
        }
        int due = l.dueCount();
        if (due > 0 || publishedDue != 0) {
            publishedParked = due > 0 ? l.parkedCount() : 0;
            publishedMinPending = due > 0 ? l.minPendingSequence() : Long.MAX_VALUE;
            publishedNextDue = l.nextDue();
            publishedBlocksLog = l.blocksLog();
            publishedDue = due;
        }
        long cursor = l.cursor();
        if (publishedCursor != cursor) {
            publishedCursor = cursor; // last: a reader that sees the cursor sees what waits below it
        }
    }

    // ---- the runner loop ----

    /** Starts this worker's runner thread. */
    public void start() {
        ctx.startRunner("keel-" + name + "-" + lane, () -> loop(null, null));
    }

    /**
     * The runner: passes while there is work, naps and sleeps when there is none. With a holding, it first
     * finishes the pass the watchdog took over from a stuck thread, whatever else happens (retirement,
     * shutdown): the timed-out attempt is recorded and the state given back.
     */
    private void loop(Holding carried, Outcome carriedOutcome) {
        Thread me = Thread.currentThread();
        runner.set(me);
        InFlight flight = timeoutNanos > 0 ? new InFlight(me) : null; // this thread's, for all its passes
        try {
            if (carried != null && runPass(carried, carriedOutcome, flight) == LOST && flight.awaitHandOver()) {
                return; // the watchdog handed the state to a newer runner
            }
            double load = 0;
            int emptyPasses = 0;
            while (ctx.running() && !retired) {
                try {
                    Holding h = acquire();
                    if (h == null) {
                        // Another thread runs a pass (a process() caller, a retirement's last commit).
                        LockSupport.parkNanos(BUSY_PARK_NANOS);
                        continue;
                    }
                    int done = runPass(h, null, flight);
                    if (done == LOST) {
                        if (flight.awaitHandOver()) {
                            return; // the watchdog handed the state to a new runner
                        }
                        continue; // no new runner could start: this thread goes on as the runner
                    }
                    if (done > 0) {
                        emptyPasses = 0;
                        load = load * 0.75 + done * 0.25;
                        continue;
                    }
                    load = idle(load, ++emptyPasses);
                } catch (Throwable t) {
                    // The pass gave the state back; a failure here (even an OutOfMemoryError a handler hit) must
                    // not leave the lane without a runner.
                    try {
                        log.error("subscription '{}' lane {}: delivery loop failed; retrying in 1 s", name, lane, t);
                    } catch (Throwable logging) {
                        // out of memory even for the log line: the lane must still go on
                    }
                    LockSupport.parkNanos(BACKOFF.toNanos());
                }
            }
            finalFlush();
        } finally {
            runner.compareAndSet(me, null);
        }
    }

    /**
     * Waits after a pass that did nothing: naps under load, else sleeps until signalled or something falls
     * due. A lane this runner may not deliver now (not held, paused by the store) sleeps the idle period, woken
     * by a lease change, a resume or a reprocess order, not by emits. After two empty passes in a row it
     * always sleeps a moment, whatever it thinks is due: a runner never spins. Returns the new load average.
     */
    private double idle(double load, int emptyPasses) {
        if (!ctx.holds(lane) || ctx.pausedByStore(sub)) {
            if (ctx.running() && !retired) {
                LockSupport.parkNanos(IDLE_PARK_NANOS);
            }
            return 0;
        }
        int naps = load >= NAP_WHEN_BATCH ? NAPS : 0;
        for (int nap = 0; nap < naps && ctx.running(); nap++) {
            LockSupport.parkNanos(Math.min(NAP_NANOS, Math.max(1, waitNanos(NAP_NANOS))));
            if (hasWork()) {
                return load;
            }
        }
        sleeping = true;
        try {
            if (ctx.running() && !retired) {
                if (!hasWork()) {
                    LockSupport.parkNanos(Math.max(MIN_SLEEP_NANOS, waitNanos(IDLE_PARK_NANOS)));
                } else if (emptyPasses > 1) {
                    LockSupport.parkNanos(MIN_SLEEP_NANOS);
                }
            }
        } finally {
            sleeping = false;
        }
        return load;
    }

    /** Commits what a deferred commit held back, once no pass runs any more. */
    private void finalFlush() {
        Holding h = acquire();
        if (h != null) {
            commitLast(h, false);
        }
    }

    /** Commits what a holding this thread took has left; then seals the worker if asked, and gives it back. */
    private void commitLast(Holding h, boolean thenSeal) {
        try {
            flush(h);
            publish(h);
        } catch (RuntimeException e) {
            log.warn("subscription '{}' lane {}: last commit failed; its deliveries may be repeated", name, lane, e);
        } finally {
            if (thenSeal) {
                seal();
            }
            release(h);
        }
    }

    // ---- the watchdog's part ----

    /**
     * Called by the watchdog thread each tick with the coarse clock's time: warns at 80% of the timeout,
     * interrupts at 100%, and at 200% takes the state from the stuck runner and hands it to a new one. It never
     * takes over while the worker retires or the runtime stops (the stuck thread keeps the state, and gives it
     * back when its handler returns), nor a delivery made by a thread that is not this worker's runner.
     */
    public void watch(long now) {
        if (timeoutNanos == 0 || !(baton.get() instanceof InFlight f)) {
            return;
        }
        long seen = f.word();
        int state = InFlight.state(seen);
        if (state == InFlight.DONE || state == InFlight.TAKEN) {
            return; // between two deliveries, or taken over already
        }
        long startedAt = f.startedAt(seen);
        if (startedAt < 0) {
            return; // the next delivery began meanwhile: the next tick looks at it
        }
        // The stamp may be stale (taken while the watchdog was held back): the delivery started no earlier than
        // a tick before the watchdog first saw it.
        long elapsed = now - Math.max(startedAt, f.firstSeen(seen, now) - Watchdog.TICK_NANOS);
        if (elapsed >= timeoutNanos / 5 * 4 && f.warnOnce()) {
            sub.timeoutWarnings().increment();
            log.warn(
                    "subscription '{}' lane {}: a delivery has used 80% of its {} ms timeout",
                    name, lane, timeout.toMillis());
        }
        if (elapsed >= interruptAtNanos && state == InFlight.RUNNING && f.interrupt(seen)) {
            sub.timeouts.increment();
            return; // the take-over, if it comes to one, is for a later tick
        }
        if (elapsed >= takeOverAtNanos
                && state == InFlight.INTERRUPTED
                && ctx.running()
                && !retired
                && f.thread == runner.get()
                && f.takeOver(seen)) {
            takeOver(f);
        }
    }

    /**
     * The watchdog won {@code f}'s delivery: the state goes to a new runner, which records the timed-out attempt
     * first. If none can start, the attempt is recorded here and the state given back. Either way the stuck
     * thread is told which it was ({@link InFlight#handedOver}): it leaves, or carries on as the runner.
     */
    private void takeOver(InFlight f) {
        boolean newRunner = false;
        boolean released = false;
        Holding h = f.holding();
        try {
            if (!baton.compareAndSet(f, null)) {
                released = true; // not ours to give back
                throw new IllegalStateException("a lane's state moved while its runner was stuck: a bug in Keel");
            }
            // The stuck delivery is no longer this lane's: not listed, not cancellable (its thread clears nothing
            // of the new runner's, since it clears only its own entry).
            Delivery<?> stuck = showing.get();
            if (stuck != null && stuck.event().id().equals(f.takenEvent().id())) {
                showing.compareAndSet(stuck, null);
            }
            cancelTarget.set(null);
            log.error(
                    "subscription '{}' lane {}: a handler ignored its interrupt and ran past twice its {} ms timeout on"
                            + " thread {}; the attempt is failed and the lane goes on with a new thread. Make the"
                            + " handler honour interrupts",
                    name,
                    lane,
                    timeout.toMillis(),
                    f.thread);
            Outcome timedOut = new Outcome.Failure(
                    new DeliveryTimeoutException(name, f.takenEvent().id(), timeout));
            try {
                ctx.startRunner("keel-" + name + "-" + lane, () -> loop(h, timedOut));
                newRunner = true;
            } catch (RuntimeException | Error e) {
                // No new runner: the state goes back with the attempt failed.
                try {
                    h.ledger.record(timedOut);
                } finally {
                    released = true;
                    release(h);
                }
                throw e;
            }
        } finally {
            if (!newRunner && !released) {
                reload.set(true); // failed before the attempt could be recorded: the next pass reloads
                release(h);
            }
            f.handedOver(newRunner);
        }
    }

    // ---- summaries for the loop, stats, maintenance and shutdown ----

    /** Successful deliveries this worker made, as last published. */
    public long delivered() {
        return delivered;
    }

    /** The committed cursor, as last published. */
    public long cursor() {
        return publishedCursor;
    }

    /** Scopes whose head waits for its time, as last published. */
    public int dueCount() {
        return publishedDue;
    }

    /** Entries parked behind a head, as last published. */
    public int parkedCount() {
        return publishedParked;
    }

    /** Events of the lane the subscription has not passed yet (by its committed cursor). */
    public long lag() {
        return Math.max(0, ctx.log().head(lane) - publishedCursor);
    }

    /** The highest sequence of the lane the subscription no longer needs. */
    public long prunePoint() {
        long cursor = publishedCursor; // first: what is pending below it was published before it
        return Math.min(cursor, publishedMinPending - 1);
    }

    /** Whether a handler is running now. */
    public boolean delivering() {
        return (baton.get() instanceof InFlight f && f.delivering()) || gate.since() != 0;
    }

    /**
     * Interrupts the handler running now, if any (at the end of a shutdown's drain): a timed one through its
     * delivery's own protocol, so the interrupt can never land on what the thread does next.
     *
     * @return whether a handler was running
     */
    public boolean interruptDelivery() {
        Object b = baton.get();
        if (b instanceof InFlight f) {
            return f.interrupt() || f.delivering();
        }
        return gate.interrupt();
    }

    /**
     * The delivery running now, for operators; null when none is. {@code nowCoarse} is the runtime's coarse clock.
     */
    public RunningDelivery running(long nowCoarse, int lanes) {
        Delivery<?> d = showing.get();
        if (d == null) {
            return null;
        }
        Event<?> e = d.event();
        return new RunningDelivery(
                name,
                lane % lanes,
                e.id(),
                e.type(),
                e.partitionKey(),
                d.attempt(),
                Duration.ofNanos(deliveringFor(nowCoarse)),
                d.deadline());
    }

    /**
     * Cancels the delivery of the event if it runs now: its handler is interrupted (through the same protocol as a
     * timeout, so the interrupt lands on that delivery only) and the attempt fails with a
     * {@link DeliveryCancelledException}. Returns whether it was running.
     */
    public boolean cancel(String eventId) {
        Delivery<?> d = showing.get();
        if (d == null || !d.event().id().equals(eventId)) {
            return false;
        }
        // The word read while d is still shown names d: an interrupt with it cannot land on a later delivery.
        Object b = baton.get();
        InFlight f = b instanceof InFlight i ? i : null;
        long word = f != null ? f.word() : gate.word();
        if (showing.get() != d) {
            return false; // it ended meanwhile
        }
        cancelTarget.set(d);
        boolean hit = f != null ? InFlight.state(word) == InFlight.RUNNING && f.interrupt(word) : gate.interrupt(word);
        if (!hit && showing.get() != d) {
            // Missed because d ended. While d is still shown, an earlier cancel's interrupt may have landed on it:
            // its target stays for the runner to read.
            cancelTarget.compareAndSet(d, null);
        }
        return hit;
    }

    /** The runner thread, if one runs. */
    public Thread runnerThread() {
        return runner.get();
    }

    /** How long the delivery in flight has run, in nanoseconds; 0 when none is. */
    public long deliveringFor(long nowCoarse) {
        if (baton.get() instanceof InFlight f) {
            long seen = f.word();
            int state = InFlight.state(seen);
            long startedAt = state == InFlight.DONE || state == InFlight.TAKEN ? -1 : f.startedAt(seen);
            return startedAt < 0 ? 0 : Math.max(0, nowCoarse - startedAt);
        }
        long since = gate.since();
        return since == 0 ? 0 : Math.max(0, nowCoarse - since);
    }

    /** Nanoseconds until something may be due, at most {@code max}. */
    long waitNanos(long max) {
        long wait = max;
        long pausedUntil = publishedPausedUntil;
        if (pausedUntil != 0) {
            wait = Math.min(wait, pausedUntil - System.nanoTime());
        }
        Instant due = publishedDue > 0 ? publishedNextDue : null;
        if (due != null) {
            wait = Math.min(wait, Duration.between(ctx.clock().instant(), due).toNanos());
        }
        return Math.max(0, wait);
    }

    /** Whether a pass now would find work. */
    public boolean hasWork() {
        if (!ctx.holds(lane) || ctx.pausedByStore(sub)) {
            return false;
        }
        long pausedUntil = publishedPausedUntil;
        if (pausedUntil != 0 && System.nanoTime() - pausedUntil < 0) {
            return false;
        }
        if (!reprocessOrders.isEmpty() || reload.get()) {
            return true;
        }
        boolean pending = publishedDue > 0;
        if (pending) {
            Instant due = publishedNextDue;
            if (due != null && !due.isAfter(ctx.clock().instant())) {
                return true;
            }
        }
        return ctx.log().head(lane) > publishedCursor && !(pending && publishedBlocksLog);
    }

    /** Whether nothing is left to do now: no pass running, no lag, nothing due. */
    public boolean isDrained() {
        if (retired) {
            return true; // its successor, if any, delivers what is left
        }
        if (!isIdle()) {
            return false;
        }
        if (!ctx.holds(lane)) {
            return true; // another instance delivers it
        }
        if (!reprocessOrders.isEmpty()) {
            return false;
        }
        long lag = lag(); // first: reads the cursor, after which what waits was published
        boolean pending = publishedDue > 0;
        Instant due = pending ? publishedNextDue : null;
        if (due != null && !due.isAfter(ctx.clock().instant())) {
            return false;
        }
        return lag == 0 || (pending && publishedBlocksLog);
    }

    // ---- retirement ----

    /** Stops further passes (the first half of a retirement; see {@link #finishRetirement}). */
    public void beginRetirement() {
        retired = true;
        wake();
    }

    /**
     * Waits until {@code deadline} (by {@link System#nanoTime()}) for a pass under way to end, commits what an
     * earlier pass held back, and seals the worker: nothing it does afterwards is committed. It seals while it
     * holds the lane's state, so no commit of this worker is under way then; at the deadline it seals anyway
     * (a commit under way finishes first). From the worker's own handler (a stream cancelled while delivering)
     * it does not wait.
     *
     * @return whether no pass was under way any more (false: a handler still runs; its outcome is dropped)
     */
    public boolean finishRetirement(long deadline) {
        Thread me = Thread.currentThread();
        if (runner.get() == me || me == inFlightThread() || gate.thread() == me) {
            seal();
            return false;
        }
        while (true) {
            Holding h = acquire();
            if (h != null) {
                commitLast(h, true);
                return true;
            }
            long left = deadline - System.nanoTime();
            // awaitIdle says false only once its wait (within this deadline) has passed or the thread was
            // interrupted; true may still lose the baton to a pass that began meanwhile, so take it again.
            if (left <= 0 || !awaitIdle(Duration.ofNanos(left))) {
                seal(); // out of time, or told to stop waiting (the interrupt stays set)
                return false;
            }
        }
    }

    private void seal() {
        sealing.lock();
        try {
            sealed = true;
        } finally {
            sealing.unlock();
        }
    }

    private Thread inFlightThread() {
        return baton.get() instanceof InFlight f ? f.thread : null;
    }

    /** Retires this worker alone: {@link #beginRetirement} then {@link #finishRetirement} within {@code wait}. */
    public boolean retire(Duration wait) {
        beginRetirement();
        return finishRetirement(System.nanoTime() + wait.toNanos());
    }
}
