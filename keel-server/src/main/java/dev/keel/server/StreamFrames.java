package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.spi.LogRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bytes of the event streams' frames: an event's frame (its JSON made once and shared by the streams that
 * stand at the same position), Keel's control notices ({@code keel.reset}, {@code keel.gap}, {@code
 * keel.overflow}, {@code keel.error}, {@code keel.shutdown}), the opening comment and the keep-alive. Also the
 * items the tail hands on: a {@link Frame} per event and a {@link Gap} per run of events a stream cannot have.
 *
 * <p>Holds no mutable state of its own but a {@link Frame}'s JSON and last shared frame, which any fan-out
 * thread or stream writer may set (see there). The builders that take a stream read its position, and {@link
 * #gap} moves it: they run on the thread that owns that position (the request thread until the hand-over, then
 * the stream's writer).
 */
final class StreamFrames {
    /** Logs as {@link EventStreams}, the logger operators know the streams by. */
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);

    static final byte[] KEEPALIVE = ": keepalive\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ID = "id: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DATA = "\ndata: ".getBytes(StandardCharsets.US_ASCII);

    private final ObjectMapper mapper;
    private final EventStreams.Settings settings;

    StreamFrames(ObjectMapper mapper, EventStreams.Settings settings) {
        this.mapper = mapper;
        this.settings = settings;
    }

    /** The first bytes of every stream served: the reconnection delay to use, and a comment. */
    byte[] opening() {
        return ("retry: " + settings.reconnect().toMillis() + "\n: stream open\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** Says that some lanes' {@code Last-Event-ID} was ahead of the journal, which start at their heads. */
    byte[] reset(OpenStream s, List<Map<String, Long>> resets) throws IOException {
        return notice(
                StreamPosition.format(s.position),
                "keel.reset",
                Map.of(
                        "reason",
                        "Last-Event-ID is ahead of this journal in some lanes; they start at their heads",
                        "lanes",
                        resets));
    }

    /** The last frame of a stream whose journal read failed on its request's thread. */
    byte[] unreadable() throws IOException {
        return notice(
                null,
                "keel.error",
                Map.of(
                        "reason",
                        "the server could not read the journal (it is logged); reconnect with"
                                + " Last-Event-ID to resume"));
    }

    /**
     * Events up to {@code through} were pruned (past the retention) before this stream read them: it says
     * so with a {@code keel.gap} event rather than skipping them silently. Moves the stream past them.
     */
    byte[] gap(OpenStream s, int lane, long through) throws IOException {
        long from = s.position[lane] + 1;
        s.position[lane] = through;
        return notice(StreamPosition.format(s.position), "keel.gap", Map.of("lane", lane, "from", from, "to", through));
    }

    /** The last frame of a stream when the server shuts down: when to reconnect, and why. */
    byte[] shutdown(String reason) throws IOException {
        return notice(null, "keel.shutdown\nretry: " + settings.reconnect().toMillis(), Map.of("reason", reason));
    }

    /** The last frame of a stream that fell too far behind: where to resume from. */
    byte[] overflow(OpenStream s) throws IOException {
        return notice(
                null,
                "keel.overflow",
                Map.of(
                        "reason",
                        "this client read more slowly than events arrived and fell " + settings.buffer()
                                + " events behind; reconnect with Last-Event-ID to resume from the journal",
                        "lastEventId",
                        StreamPosition.format(s.position)));
    }

    /** The last frame of a stream the server failed to serve: where to resume from. */
    byte[] broken(OpenStream s) throws IOException {
        return notice(
                null,
                "keel.error",
                Map.of(
                        "reason",
                        "the server failed to serve this stream (it is logged); reconnect with Last-Event-ID to"
                                + " resume from the journal",
                        "lastEventId",
                        StreamPosition.format(s.position)));
    }

    /**
     * A frame of Keel's own: an {@code id:} when it moves the stream (null otherwise), the event name (and any
     * field lines after it), and its data as JSON.
     */
    private byte[] notice(String id, String event, Map<String, ?> data) throws IOException {
        return ((id == null ? "" : "id: " + id + "\n") + "event: " + event + "\ndata: "
                        + mapper.writeValueAsString(data) + "\n\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** One event's frame, made for this stream alone, with its position (already moved past it) as its id. */
    byte[] event(OpenStream s, Event<?> e) throws IOException {
        return event(s, json(e));
    }

    /** One event's frame, with the stream's position (already moved past the event) as its id. */
    private static byte[] event(OpenStream s, byte[] json) {
        byte[] id = StreamPosition.format(s.position).getBytes(StandardCharsets.US_ASCII);
        byte[] frame = new byte[ID.length + id.length + DATA.length + json.length + 2];
        System.arraycopy(ID, 0, frame, 0, ID.length);
        System.arraycopy(id, 0, frame, ID.length, id.length);
        System.arraycopy(DATA, 0, frame, ID.length + id.length, DATA.length);
        System.arraycopy(json, 0, frame, ID.length + id.length + DATA.length, json.length);
        frame[frame.length - 2] = '\n';
        frame[frame.length - 1] = '\n';
        return frame;
    }

    private byte[] json(Event<?> e) throws IOException {
        return mapper.writeValueAsBytes(CloudEventJson.structured(e));
    }

    /** The item the tail hands on for one event it read. */
    Frame frame(LogRecord record) {
        return new Frame(record);
    }

    /**
     * Events of a lane up to {@code through} that the stream cannot have: pruned before the tail read them,
     * or one that cannot be written as JSON.
     */
    record Gap(int lane, long through) {}

    /** A frame, and the position it names. Never changed: written to many streams at once. */
    private record Shared(long[] position, byte[] frame) {}

    /** One event, written as JSON once, by the first fan-out thread that has a stream wanting it. */
    final class Frame {
        final LogRecord record;
        private volatile byte[] json;
        private volatile boolean failed;
        /** The frame last made for a stream, and that stream's position: the next at the same one reuses it. */
        private volatile Shared shared;

        private Frame(LogRecord record) {
            this.record = record;
        }

        /**
         * The event's frame for a stream, whose position is already past it. Streams that stand at the same
         * position (the live ones, mostly) share one: one array for all their writes, not one each.
         */
        byte[] frameAt(OpenStream s) {
            Shared last = shared;
            if (last != null && java.util.Arrays.equals(last.position, s.position)) {
                return last.frame;
            }
            byte[] frame = event(s, json());
            shared = new Shared(s.position.clone(), frame);
            return frame;
        }

        /** The event's JSON; null when it cannot be written (logged once). */
        byte[] json() {
            byte[] j = json;
            if (j != null || failed) {
                return j;
            }
            synchronized (this) {
                if (json == null && !failed) {
                    try {
                        json = StreamFrames.this.json(record.event());
                    } catch (IOException | RuntimeException e) {
                        // Not skipped silently: the streams that wanted it are told, as for a pruned event.
                        log.error(
                                "event {} cannot be written as JSON for streams",
                                record.event().id(),
                                e);
                        failed = true;
                    }
                }
                return json;
            }
        }
    }
}
