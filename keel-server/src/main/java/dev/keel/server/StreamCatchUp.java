package dev.keel.server;

import dev.keel.LogAccess;
import dev.keel.spi.LogRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * Reads the journal for a stream that opens: where it starts in each lane (its {@code Last-Event-ID}, or the
 * heads), and the events from there on, written to its response on its request's thread before the hand-over.
 * Holds no mutable state; it moves the stream's position, which its request's thread owns until then.
 */
final class StreamCatchUp {
    private static final Duration HEAD_RECHECK = Duration.ofMillis(250);

    private final LogAccess journal;
    private final int lanes;
    private final StreamFrames frames;
    private final StreamRegistry registry;

    StreamCatchUp(LogAccess journal, int lanes, StreamFrames frames, StreamRegistry registry) {
        this.journal = journal;
        this.lanes = lanes;
        this.frames = frames;
        this.registry = registry;
    }

    /**
     * Sets where the stream resumes in each lane: the position {@code from} names, or the head.
     *
     * @param from where to resume; null to start with the events appended from now on
     * @return the lanes whose position this journal never reached, which start at their heads (lane, from, to)
     */
    List<Map<String, Long>> resume(OpenStream s, StreamPosition from) {
        long[] at = new long[lanes];
        List<Map<String, Long>> resets = new java.util.ArrayList<>();
        boolean rechecked = false;
        for (int lane = 0; lane < lanes; lane++) {
            long head = journal.head(lane);
            at[lane] = from != null ? from.get(lane) : head;
            if (at[lane] > head && !rechecked) {
                // A shared journal's heads are this instance's cached view, a moment old: look again first,
                // so that a position another instance just wrote is not taken for one from elsewhere.
                rechecked = true;
                LockSupport.parkNanos(HEAD_RECHECK.toNanos());
                head = journal.head(lane);
            }
            if (at[lane] > head) {
                // A position this journal never reached (another deployment, a wiped store): start at its head.
                resets.add(Map.of("lane", (long) lane, "from", at[lane], "to", head));
                at[lane] = head;
            }
        }
        s.position = at;
        return resets;
    }

    /**
     * Writes what the journal holds past the stream's position up to the heads, lane by lane, saying what
     * was pruned meanwhile; stops early when the stream overflowed or the streams are closing.
     */
    void write(OpenStream s, OutputStream out) throws IOException {
        for (int lane = 0; lane < lanes; lane++) {
            while (true) {
                long head = journal.head(lane); // first: whatever it counts was appended before the read
                if (head <= s.position[lane]) {
                    break; // nothing to read: no query (streams that start at the head open without one)
                }
                List<LogRecord> page = journal.read(lane, s.position[lane], EventStreams.PAGE);
                long next = page.isEmpty() ? head + 1 : page.getFirst().sequence();
                if (next > s.position[lane] + 1) {
                    out.write(frames.gap(s, lane, next - 1));
                }
                if (page.isEmpty()) {
                    break;
                }
                for (LogRecord r : page) {
                    s.position[lane] = r.sequence();
                    if (s.accepts(r.event())) {
                        out.write(frames.event(s, r.event()));
                    }
                }
                out.flush();
                if (s.overflowed || registry.closing() != null) {
                    return;
                }
            }
        }
    }
}
