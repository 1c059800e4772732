package dev.keel.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.eclipse.jetty.util.IteratingCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes one stream's queued frames, one write at a time, each taking a bounded batch of what is queued.
 * Jetty's {@link IteratingCallback} runs {@link #process} on one thread at a time: the one that woke the
 * stream (its fan-out thread, the heartbeat thread, the request thread at the hand-over, the thread
 * closing the streams) when the socket takes the write at once, or Jetty's thread that completes a
 * write that waited. That thread owns the stream's position and this writer's state while it runs.
 */
final class StreamWriter extends IteratingCallback {
    /** Logs as {@link EventStreams}, the logger operators know the streams by. */
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);

    /** A stream's write takes no more frames once it holds this many bytes (so it holds at most one more). */
    private static final int WRITE_BYTES = 64 * 1024;

    private final OpenStream s;
    private final org.eclipse.jetty.server.Response response;
    private final StreamFrames frames;
    private final StreamRegistry registry;
    private final Duration heartbeat;
    private boolean ending;

    StreamWriter(
            OpenStream s,
            org.eclipse.jetty.server.Response response,
            StreamFrames frames,
            StreamRegistry registry,
            Duration heartbeat) {
        this.s = s;
        this.response = response;
        this.frames = frames;
        this.registry = registry;
        this.heartbeat = heartbeat;
    }

    /** Called once its request is async: from here on this writer sends what is queued. */
    CompletableFuture<Void> start(jakarta.servlet.AsyncContext async) {
        async.setTimeout(0); // a stream lasts as long as its client stays, whatever Javalin's default
        async.addListener(new jakarta.servlet.AsyncListener() {
            @Override
            public void onComplete(jakarta.servlet.AsyncEvent event) {
                registry.release(s);
            }

            @Override
            public void onTimeout(jakarta.servlet.AsyncEvent event) {
                abort(new java.util.concurrent.TimeoutException("the stream's request timed out"));
            }

            @Override
            public void onError(jakarta.servlet.AsyncEvent event) {
                // The connection failed outside a write of the stream's: it ends now, not at its next write.
                abort(event.getThrowable() != null ? event.getThrowable() : new IOException("connection failed"));
            }

            @Override
            public void onStartAsync(jakarta.servlet.AsyncEvent event) {}
        });
        if (!s.state.compareAndSet(OpenStream.HANDED, OpenStream.STARTED)) {
            s.broken = true; // given up meanwhile, so it had no events since: it ends, with where to resume
        }
        s.writer = this;
        iterate(); // what was queued while it caught up, or the final event when it is already ending
        return s.done;
    }

    @Override
    protected Action process() throws IOException {
        if (ending) {
            return Action.SUCCEEDED; // the final frame is written
        }
        byte[] bytes;
        String closing = registry.closing();
        if (closing != null) {
            ending = true;
            bytes = frames.shutdown(closing);
        } else if (s.overflowed) {
            ending = true;
            bytes = frames.overflow(s);
        } else if (s.broken) {
            ending = true;
            bytes = frames.broken(s);
        } else {
            bytes = queued();
        }
        if (bytes == null) {
            return Action.IDLE;
        }
        s.lastWrite = System.nanoTime();
        response.write(false, ByteBuffer.wrap(bytes), this);
        return Action.SCHEDULED;
    }

    /**
     * The frames queued now: up to {@link EventStreams#BATCH} of them, taken until they hold {@link
     * #WRITE_BYTES} (a single frame is its shared array). Else a keep-alive when one is due; null for nothing.
     */
    private byte[] queued() throws IOException {
        byte[] one = null;
        List<byte[]> more = null;
        int bytes = 0;
        for (int n = 0; n < EventStreams.BATCH && bytes < WRITE_BYTES; n++) {
            Object item = s.queue.poll();
            if (item == null) {
                break;
            }
            byte[] frame = null;
            if (item instanceof StreamFrames.Frame f && f.record.sequence() > s.position[f.record.lane()]) {
                s.position[f.record.lane()] = f.record.sequence();
                frame = f.frameAt(s);
            } else if (item instanceof StreamFrames.Gap g && g.through() > s.position[g.lane()]) {
                frame = frames.gap(s, g.lane(), g.through());
            }
            if (frame == null) {
                continue; // caught up on it from the journal already
            }
            bytes += frame.length;
            if (one == null) {
                one = frame;
            } else {
                if (more == null) {
                    more = new java.util.ArrayList<>();
                    more.add(one);
                }
                more.add(frame);
            }
        }
        if (more != null) {
            byte[] all = new byte[bytes];
            int at = 0;
            for (byte[] frame : more) {
                System.arraycopy(frame, 0, all, at, frame.length);
                at += frame.length;
            }
            return all;
        }
        if (one == null && s.heartbeatDue) {
            s.heartbeatDue = false;
            if (System.nanoTime() - s.lastWrite >= heartbeat.toNanos() / 2) {
                return StreamFrames.KEEPALIVE;
            }
        }
        return one;
    }

    @Override
    protected void onCompleteSuccess() {
        finish();
    }

    @Override
    protected void onCompleteFailure(Throwable cause) {
        if (!(cause instanceof IOException) && !(cause instanceof java.util.concurrent.TimeoutException)) {
            log.warn("an event stream failed; it is ended so that its client resumes from the journal", cause);
        } // else the client went away, or its write timed out: nothing more to send
        finish();
    }

    private void finish() {
        registry.release(s);
        // The request completes, ending the response; not on this thread, which may be a fan-out thread
        // in the middle of its streams.
        Thread.ofVirtual().name("keel-stream-end").start(() -> s.done.complete(null));
    }
}
