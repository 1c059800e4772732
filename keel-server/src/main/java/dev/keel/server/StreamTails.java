package dev.keel.server;

import dev.keel.LogAccess;
import dev.keel.spi.LogRecord;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tails of the journal: one virtual thread per lane reads the events appended to it (by any instance) and
 * hands each to every fan-out thread. A tail is woken at once by this process's appends (an append watch) and
 * polls for other instances'. While it tails, pruning in this process waits for what it has read.
 *
 * <p>Each tail thread owns its lane's read position; it publishes it in {@link #tailed}, which the pruning hold
 * reads, and itself in {@link #parked} while it waits, which the append watch reads. The hold, the watch and
 * the threads are set up and closed under the {@link EventStreams}' lock.
 */
final class StreamTails {
    /** Logs as {@link EventStreams}, the logger operators know the streams by. */
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);

    private final LogAccess journal;
    private final int lanes;
    private final Duration poll;
    private final StreamRegistry registry;
    private final StreamFrames frames;
    private final StreamFanOut[] fanOuts;

    /** Per lane, the last sequence the tail has handed to the streams; pruning in this process waits for it. */
    private final AtomicLongArray tailed;
    /** Per lane, its tail's thread while it waits for an append; null otherwise. */
    private final AtomicReferenceArray<Thread> parked;
    /** Per lane, its tail's thread once started; guarded by the EventStreams. */
    private final Thread[] threads;

    /** Guarded by the EventStreams. */
    private LogAccess.Hold hold;
    /** Guarded by the EventStreams. */
    private LogAccess.Watch watch;

    private volatile boolean closed;

    StreamTails(
            LogAccess journal,
            int lanes,
            Duration poll,
            StreamRegistry registry,
            StreamFrames frames,
            StreamFanOut[] fanOuts) {
        this.journal = journal;
        this.lanes = lanes;
        this.poll = poll;
        this.registry = registry;
        this.frames = frames;
        this.fanOuts = fanOuts;
        this.tailed = new AtomicLongArray(lanes);
        this.parked = new AtomicReferenceArray<>(lanes);
        this.threads = new Thread[lanes];
    }

    /**
     * Holds pruning, reads every lane's head and watches appends, whichever of these is not done yet. Called
     * under the EventStreams' lock, before {@link #start}.
     *
     * @return per lane, its head: where its tail starts
     */
    long[] prepare() {
        boolean holding = hold != null;
        if (!holding) {
            // Held at 0 until the heads are read: nothing is pruned under the tail.
            hold = journal.holdPruning(tailed::get);
        }
        long[] heads = new long[lanes];
        try {
            for (int lane = 0; lane < lanes; lane++) {
                // Read before any stream is offered anything: a stream reads what precedes it from the journal.
                heads[lane] = journal.head(lane);
            }
        } catch (RuntimeException e) {
            if (!holding) { // nothing tails yet: pruning goes on until a stream tries again
                hold.close();
                hold = null;
            }
            throw e;
        }
        if (watch == null) {
            watch = journal.watchAppends(lane -> {
                Thread t = parked.get(lane);
                if (t != null) {
                    LockSupport.unpark(t);
                }
            });
        }
        return heads;
    }

    /** Starts the tail of each lane that has none, at the head {@link #prepare} read. Under the EventStreams' lock. */
    void start(long[] heads) {
        for (int lane = 0; lane < lanes; lane++) {
            if (threads[lane] == null) {
                int l = lane;
                long head = heads[lane];
                tailed.set(lane, head);
                threads[lane] =
                        Thread.ofVirtual().name("keel-stream-tail-" + lane).start(() -> tail(l, head));
            }
        }
    }

    /** Wakes every tail: one idle for want of streams starts at once, not after its nap. */
    void wake() {
        for (Thread t : threads) {
            LockSupport.unpark(t);
        }
    }

    /** Stops the tails and lets pruning go on. Under the EventStreams' lock; {@link #wake} them after. */
    void close() {
        closed = true;
        if (hold != null) {
            hold.close();
        }
        if (watch != null) {
            watch.close();
        }
    }

    private void tail(int lane, long start) {
        long position = start;
        long pollNanos = poll.toNanos();
        long notifiedPollNanos = EventStreams.Settings.NOTIFIED_POLL.toNanos();
        while (!closed) {
            try {
                if (registry.isEmpty()) {
                    // Nobody listens: skip ahead rather than read what no stream wants. Only when no stream
                    // joined while the head was read: one that did may need what lies before that head.
                    int seen = registry.joins();
                    long head = journal.head(lane);
                    if (registry.isEmpty() && registry.joins() == seen) {
                        position = Math.max(position, head);
                        tailed.set(lane, position);
                    }
                    LockSupport.parkNanos(EventStreams.IDLE.toNanos());
                    continue;
                }
                List<LogRecord> page =
                        journal.head(lane) > position ? journal.read(lane, position, EventStreams.PAGE) : List.of();
                if (page.isEmpty()) {
                    // Woken by this process's appends at once (see prepare), and by other instances' while the
                    // engine or Redis notices tell of them; otherwise others' are found by polling.
                    parked.set(lane, Thread.currentThread());
                    if (journal.head(lane) <= position) {
                        LockSupport.parkNanos(
                                journal.toldOfAppendsElsewhere() ? Math.max(pollNanos, notifiedPollNanos) : pollNanos);
                    }
                    parked.set(lane, null);
                    continue;
                }
                if (page.getFirst().sequence() > position + 1) {
                    // Pruned before the tail read it (by another instance, past its retention).
                    log.warn(
                            "events {} to {} of lane {} were pruned before the event streams read them",
                            position + 1,
                            page.getFirst().sequence() - 1,
                            lane);
                    hand(new StreamFrames.Gap(lane, page.getFirst().sequence() - 1));
                }
                for (LogRecord r : page) {
                    hand(frames.frame(r));
                    position = r.sequence();
                }
                tailed.set(lane, position);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                if (closed) {
                    return;
                }
                if (e instanceof VirtualMachineError vme && !(e instanceof StackOverflowError)) {
                    throw vme;
                }
                log.warn("the event stream tail of lane {} cannot read the journal; retrying in 1 s", lane, e);
                LockSupport.parkNanos(Duration.ofSeconds(1).toNanos());
            }
        }
    }

    /** Gives a frame or a gap to every fan-out thread; waits while one is a full inbox behind. */
    private void hand(Object item) throws InterruptedException {
        for (StreamFanOut f : fanOuts) {
            while (!f.inbox.offer(item, 100, TimeUnit.MILLISECONDS)) {
                if (closed) {
                    throw new InterruptedException("the event streams are closed");
                }
            }
        }
    }
}
