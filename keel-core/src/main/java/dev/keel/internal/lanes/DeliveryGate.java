package dev.keel.internal.lanes;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A lane's delivery without a timeout, while it runs: since when (for stuck-lane checks), on which thread, and
 * an interrupt (at the end of a shutdown's drain, or an operator's cancel) that can only land on that delivery.
 * The runner enters and leaves; another thread may interrupt in between. As in {@link InFlight}, the runner leaving
 * waits out the few instructions of an interrupt under way and clears it, so it never reaches the runner's next
 * step (a commit, whose socket an interrupt would close).
 *
 * <p>The state is one word: the number of the delivery (one more each time the runner enters) and its phase. An
 * interrupt meant for one delivery ({@link #interrupt(long)} with the word read while it ran) changes the word only
 * if it still names that delivery, so it can never reach the next.
 */
final class DeliveryGate {
    private static final long IDLE = 0;
    private static final long DELIVERING = 1;
    private static final long INTERRUPTING = 2;
    private static final int PHASE_BITS = 2;
    private static final long PHASE_MASK = (1L << PHASE_BITS) - 1;

    private final AtomicLong word = new AtomicLong();
    /** Deliveries entered so far; written by the runner only. */
    private long entered;

    private volatile Thread thread;
    private volatile long since;

    /** Called by the runner before the handler; {@code coarseNow} is when, on the runtime's coarse clock. */
    void enter(long coarseNow) {
        thread = Thread.currentThread();
        since = coarseNow;
        entered++;
        word.set(entered << PHASE_BITS | DELIVERING);
    }

    /** Called by the runner after the handler, whatever it did; answers whether an interrupt landed on it. */
    boolean leave() {
        since = 0;
        boolean interrupted = false;
        if (!word.compareAndSet(entered << PHASE_BITS | DELIVERING, entered << PHASE_BITS | IDLE)) {
            interrupted = true;
            synchronized (this) {
                while ((word.get() & PHASE_MASK) == INTERRUPTING) {
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
        return interrupted;
    }

    /** The word now: read it while a delivery runs to interrupt that delivery only, with {@link #interrupt(long)}. */
    long word() {
        return word.get();
    }

    /** Interrupts the delivery the word names, if it still runs; returns whether it did. */
    boolean interrupt(long seen) {
        if ((seen & PHASE_MASK) != DELIVERING) {
            return false;
        }
        long n = seen >>> PHASE_BITS;
        if (!word.compareAndSet(seen, n << PHASE_BITS | INTERRUPTING)) {
            return false;
        }
        try {
            Thread t = thread;
            if (t != null) {
                t.interrupt();
            }
        } finally {
            synchronized (this) {
                word.set(n << PHASE_BITS | IDLE);
                notifyAll();
            }
        }
        return true;
    }

    /** Interrupts the delivery running now, if one is; returns whether one was. */
    boolean interrupt() {
        return interrupt(word.get());
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
