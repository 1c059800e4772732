package dev.keel.internal.lanes;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A lane's delivery without a timeout, while it runs: since when (for stuck-lane checks), on which thread, and
 * an interrupt (at the end of a shutdown's drain) that can only land on that delivery. The runner enters and
 * leaves; another thread may interrupt in between. As in {@link InFlight}, the runner leaving waits out the few
 * instructions of an interrupt under way and clears it, so it never reaches the runner's next step (a commit,
 * whose socket an interrupt would close).
 */
final class DeliveryGate {
    private static final int IDLE = 0;
    private static final int DELIVERING = 1;
    private static final int INTERRUPTING = 2;

    private final AtomicInteger state = new AtomicInteger();
    private volatile Thread thread;
    private volatile long since;

    /** Called by the runner before the handler; {@code coarseNow} is when, on the runtime's coarse clock. */
    void enter(long coarseNow) {
        thread = Thread.currentThread();
        since = coarseNow;
        state.set(DELIVERING);
    }

    /** Called by the runner after the handler, whatever it did. */
    void leave() {
        since = 0;
        if (!state.compareAndSet(DELIVERING, IDLE)) {
            synchronized (this) {
                while (state.get() == INTERRUPTING) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        // the very interrupt being delivered: cleared below
                    }
                }
            }
        }
        thread = null;
        Thread.interrupted();
    }

    /** Interrupts the delivery running now, if one is; returns whether one was. */
    boolean interrupt() {
        if (!state.compareAndSet(DELIVERING, INTERRUPTING)) {
            return false;
        }
        try {
            Thread t = thread;
            if (t != null) {
                t.interrupt();
            }
        } finally {
            synchronized (this) {
                state.set(IDLE);
                notifyAll();
            }
        }
        return true;
    }

    /** When the delivery running now started, on the coarse clock; 0 when none runs. */
    long since() {
        return since;
    }

    /** The thread delivering now, or null. */
    Thread thread() {
        return thread;
    }
}
