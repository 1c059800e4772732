package dev.keel.server;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heartbeat thread: has the streams that wrote nothing for a heartbeat interval send a keep-alive comment
 * (which also finds clients that are gone), and gives up streams handed over that never started. Its thread
 * owns nothing but its loop; it marks streams through their volatile flags and hand-over state.
 */
final class StreamHeartbeat implements Runnable {
    /** Logs as {@link EventStreams}, the logger operators know the streams by. */
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);

    /** How long a stream handed over may take to go async before it is taken for lost. */
    private static final Duration HAND_OVER = Duration.ofSeconds(30);

    private final StreamRegistry registry;
    private final Duration heartbeat;
    /** Its thread, once started; guarded by the EventStreams. */
    private Thread thread;

    private volatile boolean closed;

    StreamHeartbeat(StreamRegistry registry, Duration heartbeat) {
        this.registry = registry;
        this.heartbeat = heartbeat;
    }

    /** Starts its thread, unless it runs. Under the EventStreams' lock. */
    void start() {
        if (thread == null) {
            thread = Thread.ofVirtual().name("keel-stream-heartbeat").start(this);
        }
    }

    /** Has its thread stop, at its next beat. */
    void close() {
        closed = true;
    }

    @Override
    public void run() {
        long interval = heartbeat.toNanos();
        while (!closed) {
            LockSupport.parkNanos(Math.max(1_000_000, interval / 4));
            long now = System.nanoTime();
            for (OpenStream s : registry.streams()) {
                try {
                    if (s.handedOver != 0
                            && now - s.handedOver > HAND_OVER.toNanos()
                            && s.state.compareAndSet(OpenStream.HANDED, OpenStream.ABANDONED)) {
                        // Its request has not gone async in all that time: it must not hold a slot for good. If
                        // it starts after all, it ends at once with keel.error (see StreamWriter.start).
                        log.warn("an event stream was handed over but did not start in {}; it is given up", HAND_OVER);
                        registry.release(s);
                        continue;
                    }
                    if (s.live && now - s.lastWrite >= interval && s.queue.isEmpty()) {
                        s.heartbeatDue = true; // a busy stream is writing anyway
                        s.wake();
                    }
                } catch (RuntimeException e) {
                    log.warn("an event stream could not be sent its keep-alive", e);
                }
            }
        }
    }
}
