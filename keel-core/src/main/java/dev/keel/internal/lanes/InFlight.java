package dev.keel.internal.lanes;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The timed deliveries of one runner thread, one at a time, while their handlers run. Each runner has one for
 * all its passes (the hot path allocates nothing for it), and only that thread ever puts it on the worker's
 * baton, at a pass's first timed delivery; it stays there until the pass ends. While a handler runs it stands for the lane's state
 * ({@link #holding}): the runner gives the state up before calling the handler and must win it back
 * afterwards, and the watchdog may win it instead when the handler overruns twice its timeout. Between two
 * deliveries the word says {@code DONE}, and the state is the runner's.
 *
 * <p>Who wins is decided by one compare-and-set on {@link #word}, which holds a delivery number (one more per
 * delivery of the pass) and that delivery's state. Because the number is in the word, an interrupt or a
 * take-over meant for one delivery can never succeed on the next, though both are made through the same
 * object:
 *
 * <ul>
 *   <li>{@code RUNNING}: the handler runs. The runner moves it to {@code DONE} when the handler returns; the
 *       watchdog (or a shutdown) moves it to {@code INTERRUPTING}, interrupts the thread, then to
 *       {@code INTERRUPTED}.
 *   <li>{@code INTERRUPTING}: the runner, returning, waits out those few instructions, so the interrupt never
 *       reaches what it does next (a commit, whose socket an interrupt would close).
 *   <li>{@code INTERRUPTED}: the runner moves it to {@code DONE}, or the watchdog to {@code TAKEN}; whoever
 *       wins owns the state. A runner that finds {@code TAKEN} touches nothing and waits for the watchdog's
 *       decision ({@link #awaitHandOver}): normally a new runner has the state and this thread leaves; if none
 *       could start, the watchdog gives the state back to the baton and this thread carries on as the runner,
 *       with this object and the next delivery number.
 * </ul>
 *
 * <p>The runner writes {@link #event} and {@link #startedAt} between deliveries, after the word left
 * {@code RUNNING} (by a compare-and-set, the runner's or the watchdog's) and before it enters {@code RUNNING}
 * with the next number (a release): the watchdog reads them as a sequence lock's reader does, keeping what it
 * read only when the word did not change meanwhile.
 */
final class InFlight {
    static final int RUNNING = 0;
    static final int DONE = 1;
    static final int INTERRUPTING = 2;
    static final int INTERRUPTED = 3;
    static final int TAKEN = 4;

    private static final int STATE_BITS = 3;
    private static final long STATE_MASK = (1 << STATE_BITS) - 1;

    /** What {@link #finish} found. */
    enum Finish {
        /** The handler returned and no interrupt was sent. */
        CLEAN,
        /** The handler was interrupted (its timeout passed); the runner keeps the state. */
        INTERRUPTED,
        /** The watchdog took the state over: the runner no longer owns it. */
        LOST
    }

    private static final VarHandle WORD;

    static {
        try {
            WORD = MethodHandles.lookup().findVarHandle(InFlight.class, "word", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final Thread thread;

    /** The state of the lane whose pass this is; set by the runner before it puts this on the baton. */
    private LaneWorker.Holding holding;

    /** After a take-over: 0 until the watchdog decided, 1 a new runner has the state, 2 this thread keeps on. */
    private int handOver;

    // ---- written by the runner between deliveries; see the class comment ----
    private dev.keel.Event<?> event;
    private long startedAt;
    /** The number of the delivery under way (or last made). Runner only. */
    private long number;

    @SuppressWarnings("unused") // through WORD
    private volatile long word = DONE;

    // ---- the watchdog's own notes on the delivery it last looked at ----
    private long seenNumber = -1;
    private long firstSeen;
    private boolean warned;

    InFlight(Thread thread) {
        this.thread = thread;
    }

    private static long word(long number, int state) {
        return number << STATE_BITS | state;
    }

    static int state(long word) {
        return (int) (word & STATE_MASK);
    }

    // ---- the runner's side ----

    /** Called by the runner before the handler: the next delivery, started at {@code coarseNow}. */
    void begin(dev.keel.Event<?> event, long coarseNow) {
        this.event = event;
        this.startedAt = coarseNow;
        WORD.setRelease(this, word(++number, RUNNING));
    }

    /**
     * Called by the runner when the handler returned (or threw): wins the state back, or learns it was taken
     * over. An interrupt sent to this delivery has landed and been cleared when it returns.
     */
    Finish finish() {
        long n = number;
        if (WORD.compareAndSet(this, word(n, RUNNING), word(n, DONE))) {
            return Finish.CLEAN;
        }
        synchronized (this) {
            while (state(word) == INTERRUPTING) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    // the very interrupt being sent: cleared below
                }
            }
        }
        Thread.interrupted();
        return WORD.compareAndSet(this, word(n, INTERRUPTED), word(n, DONE)) ? Finish.INTERRUPTED : Finish.LOST;
    }

    // ---- other threads' side ----

    /** Whether a handler runs now (or its runner has not yet won the state back). */
    boolean delivering() {
        int state = state(word);
        return state != DONE && state != TAKEN;
    }

    /** The word now: which delivery runs, and its state. */
    long word() {
        return word;
    }

    /**
     * When the delivery the word {@code seen} names started, on the coarse clock; -1 when another delivery
     * runs by now (its stamp may have been read half-way through being rewritten).
     */
    long startedAt(long seen) {
        long at = startedAt;
        VarHandle.acquireFence(); // the read above happens before the check below
        return word == seen ? at : -1;
    }

    /** Called by the runner before it puts this on the baton for a pass over {@code h}. */
    void forPass(LaneWorker.Holding h) {
        holding = h;
    }

    /** The state of the delivery this thread took over; only after a successful {@link #takeOver}. */
    LaneWorker.Holding holding() {
        if (state(word) != TAKEN) {
            throw new IllegalStateException("the lane's state is reachable here only after a take-over");
        }
        return holding;
    }

    /** Called by the watchdog once it decided what a take-over comes to: a new runner, or none. */
    synchronized void handedOver(boolean newRunner) {
        handOver = newRunner ? 1 : 2;
        notifyAll();
    }

    /**
     * Called by the runner that found its delivery {@link Finish#LOST}: waits (a few instructions of the
     * watchdog's) until it decided, and returns whether a new runner has the state (else this thread carries
     * on as the runner).
     */
    synchronized boolean awaitHandOver() {
        boolean interrupted = false;
        while (handOver == 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        boolean newRunner = handOver == 1;
        handOver = 0; // this object may serve this thread's next passes
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return newRunner;
    }

    /** The event of the delivery this thread took over; only after a successful {@link #takeOver}. */
    dev.keel.Event<?> takenEvent() {
        return event;
    }

    /** Interrupts the delivery the word {@code seen} names, if its handler still runs uninterrupted. */
    boolean interrupt(long seen) {
        long n = seen >>> STATE_BITS;
        if (!WORD.compareAndSet(this, word(n, RUNNING), word(n, INTERRUPTING))) {
            return false;
        }
        try {
            thread.interrupt();
        } finally {
            synchronized (this) {
                word = word(n, INTERRUPTED);
                notifyAll();
            }
        }
        return true;
    }

    /** Interrupts whatever delivery runs now (a shutdown's drain ending). */
    boolean interrupt() {
        long w = word;
        return state(w) == RUNNING && interrupt(w);
    }

    /**
     * Takes the state from the delivery the word {@code seen} names, which was interrupted and has not
     * returned. Whoever wins this (or the runner's {@link #finish}) owns the state.
     */
    boolean takeOver(long seen) {
        long n = seen >>> STATE_BITS;
        return WORD.compareAndSet(this, word(n, INTERRUPTED), word(n, TAKEN));
    }

    // ---- the watchdog's notes ----

    /**
     * The watchdog's first sighting of the delivery the word {@code seen} names, noted at {@code now} if this
     * is it. Watchdog thread only.
     */
    long firstSeen(long seen, long now) {
        if (seenNumber != seen >>> STATE_BITS) {
            seenNumber = seen >>> STATE_BITS;
            firstSeen = now;
            warned = false;
        }
        return firstSeen;
    }

    /** Whether the watchdog warned about this delivery yet; notes that it does now. Watchdog thread only. */
    boolean warnOnce() {
        if (warned) {
            return false;
        }
        warned = true;
        return true;
    }
}
