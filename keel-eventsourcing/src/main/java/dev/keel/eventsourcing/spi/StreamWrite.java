package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.ExpectedVersion;
import java.util.List;
import java.util.Objects;

/**
 * One append to one stream.
 *
 * @param stream the stream
 * @param streamType the aggregate type the stream belongs to
 * @param expected the version the stream must be at
 * @param events the events, at least one, given versions after the stream's
 * @param commandId the command the events answer, recorded so that it is applied at most once; may be null
 */
public record StreamWrite(
        String stream, String streamType, ExpectedVersion expected, List<NewEvent> events, String commandId) {
    /** Checks and copies. */
    public StreamWrite {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(streamType, "streamType");
        Objects.requireNonNull(expected, "expected");
        events = List.copyOf(events);
        if (events.isEmpty()) {
            throw new IllegalArgumentException("an append to stream '" + stream + "' needs at least one event");
        }
    }
}
