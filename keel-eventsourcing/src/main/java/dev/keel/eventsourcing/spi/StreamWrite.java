package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.ExpectedVersion;
import dev.keel.eventsourcing.Rejection;
import java.util.List;
import java.util.Objects;

/**
 * One append to one stream.
 *
 * @param stream the stream
 * @param streamType the aggregate type the stream belongs to
 * @param expected the version the stream must be at
 * @param events the events, given versions after the stream's; none only for a write that records that its
 *     command was applied (a command decided to change nothing, or rejected), so it is not decided again
 * @param commandId the command the events answer, recorded so that it is applied at most once; may be null
 * @param label a short name of the stream's state after the append (a saga's step), counted by
 *     {@link EventStore#labels(String)}; may be null
 * @param rejection for a write without events that records a rejected command, why; otherwise null
 */
public record StreamWrite(
        String stream,
        String streamType,
        ExpectedVersion expected,
        List<NewEvent> events,
        String commandId,
        String label,
        Rejection rejection) {
    /** Checks and copies. */
    public StreamWrite {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(streamType, "streamType");
        Objects.requireNonNull(expected, "expected");
        events = List.copyOf(events);
        if (events.isEmpty() && commandId == null) {
            throw new IllegalArgumentException(
                    "an append to stream '" + stream + "' needs at least one event, or a" + " command id to record");
        }
    }
}
