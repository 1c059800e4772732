package dev.keel.server;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A thread that queues the tail's frames on the streams it owns and writes them. A write that the socket
 * takes at once happens here; one that waits for the socket completes on Jetty's thread, which goes on
 * writing that stream.
 *
 * <p>Its thread owns the batch it takes and its failure log's pace; the tails fill its inbox; request threads
 * add streams to its share and whoever releases a stream removes it (a concurrent set).
 */
final class StreamFanOut implements Runnable {
    /** Logs as {@link EventStreams}, the logger operators know the streams by. */
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);

    /** The most frames the tail may hand a fan-out thread ahead of it. */
    private static final int INBOX = 4_096;

    final int index;
    final BlockingQueue<Object> inbox = new ArrayBlockingQueue<>(INBOX);
    /** Its share of the streams. */
    final Set<OpenStream> streams = ConcurrentHashMap.newKeySet();
    /** Its thread, once started; guarded by the EventStreams. */
    private Thread thread;

    private volatile boolean closed;
    private long lastFailureLog = System.nanoTime() - TimeUnit.SECONDS.toNanos(2);

    StreamFanOut(int index) {
        this.index = index;
    }

    /** Starts its thread, unless it runs. Under the EventStreams' lock. */
    void start() {
        if (thread == null) {
            thread = Thread.ofPlatform()
                    .daemon()
                    .name("keel-stream-fanout-" + index)
                    .start(this);
        }
    }

    /** Has its thread stop, within {@link EventStreams#IDLE}. */
    void close() {
        closed = true;
    }

    @Override
    public void run() {
        List<Object> batch = new java.util.ArrayList<>(EventStreams.BATCH);
        while (!closed) {
            try {
                Object first = inbox.poll(EventStreams.IDLE.toMillis(), TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                inbox.drainTo(batch, EventStreams.BATCH - 1);
                for (OpenStream s : streams) {
                    try {
                        if (queue(s, batch)) {
                            s.wake();
                        }
                    } catch (Throwable t) { // the thread serves every other stream; this one ends
                        fail(s, t);
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (Throwable t) {
                // Out of memory taking the batch, say: its events may be lost to every stream here, which
                // end so that their clients resume from the journal. The thread goes on for new ones.
                for (OpenStream s : streams) {
                    fail(s, t);
                }
            } finally {
                batch.clear();
            }
        }
    }

    /**
     * A stream this thread could not serve: it may have missed events, so it ends with {@code keel.error}
     * and its last position, and the client resumes from the journal.
     */
    private void fail(OpenStream s, Throwable t) {
        long now = System.nanoTime();
        if (now - lastFailureLog > TimeUnit.SECONDS.toNanos(1)) {
            lastFailureLog = now; // one a second: a failure that hits every stream would hit them all
            log.error("an event stream failed; it is ended so that its client resumes from the journal", t);
        }
        s.broken = true;
        s.queue.clear();
        try {
            s.wake();
        } catch (Throwable again) { // then the heartbeat's next wake ends it
            log.debug("an event stream could not be woken to end", again);
        }
    }

    /** Queues on one stream what it wants of a batch; true when it got something. */
    private boolean queue(OpenStream s, List<Object> batch) {
        if (!s.live || s.overflowed || s.broken) {
            return false;
        }
        boolean queued = false;
        for (Object item : batch) {
            Object entry = item;
            if (item instanceof StreamFrames.Frame f) {
                if (!s.accepts(f.record.event())) {
                    continue;
                }
                if (f.json() == null) {
                    entry = new StreamFrames.Gap(f.record.lane(), f.record.sequence());
                }
            }
            queued = true;
            if (!s.queue.offer(entry)) {
                s.overflowed = true;
                s.queue.clear(); // its writer sends the overflow event next; what it would drop frees memory now
                return true;
            }
        }
        return queued;
    }
}
