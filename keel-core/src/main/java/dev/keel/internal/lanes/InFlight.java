package dev.keel.internal.lanes;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A delivery under a timeout while its handler runs. It holds the lane's state (the {@link LaneLedger} and
 * what the runner keeps beside it) for as long as the handler runs: the runner gives the ledger up before calling the handler and must take it back from
 * here afterwards, so the watchdog can take it instead when the handler overruns twice its timeout. Who wins
 * that compare-and-set on the worker's baton owns the ledger; the loser never sees it.
 *
 * <p>Interrupting is a second, smaller protocol on {@link #state}, so that an interrupt meant for this
 * delivery can never land on the next one: the watchdog interrupts only while the state is {@code RUNNING}
 * (moving it through {@code INTERRUPTING} to {@code INTERRUPTED}), and the runner, when the handler returns,
 * either moves it from {@code RUNNING} to {@code DONE} (no interrupt sent or to come) or waits out the few
 * instructions of an interrupt under way and clears it.
 */
final class InFlight {
    static final int RUNNING = 0;
    static final int DONE = 1;
    static final int INTERRUPTING = 2;
    static final int INTERRUPTED = 3;

    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(InFlight.class, "state", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final LaneWorker.Holding holding;
    final dev.keel.Event<?> event;
    final Thread thread;
    /** When the handler was called, on the runtime's coarse clock (see {@link Watchdog}). */
    final long startedAt;

    @SuppressWarnings("unused") // through STATE
    private volatile int state;

    /** Touched by the watchdog thread only. */
    boolean warned;

    /** When the watchdog first saw this delivery, on the coarse clock; 0 until then. Watchdog thread only. */
    long firstSeen;

    InFlight(LaneWorker.Holding holding, dev.keel.Event<?> event, Thread thread, long startedAt) {
        this.holding = holding;
        this.event = event;
        this.thread = thread;
        this.startedAt = startedAt;
    }

    int state() {
        return state;
    }

    /**
     * Called by the runner when the handler returned. Returns true when no interrupt was sent; otherwise
     * waits until the interrupt has landed, clears it, and returns false.
     */
    boolean finish() {
        if (STATE.compareAndSet(this, RUNNING, DONE)) {
            return true;
        }
        synchronized (this) {
            boolean waited = false;
            while (state == INTERRUPTING) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    waited = true; // it is the very interrupt we wait for: cleared below
                }
            }
            assert state == INTERRUPTED || waited;
        }
        Thread.interrupted();
        return false;
    }

    /** Called by the watchdog when the timeout passed: interrupts the handler unless it has returned. */
    boolean interrupt() {
        if (!STATE.compareAndSet(this, RUNNING, INTERRUPTING)) {
            return false;
        }
        try {
            thread.interrupt();
        } finally {
            synchronized (this) {
                state = INTERRUPTED;
                notifyAll();
            }
        }
        return true;
    }
}
