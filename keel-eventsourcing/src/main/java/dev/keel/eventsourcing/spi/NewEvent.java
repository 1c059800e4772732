package dev.keel.eventsourcing.spi;

import java.util.Map;
import java.util.Objects;

/**
 * An event to append to a stream.
 *
 * @param eventId the event's id, the same as the id of the log event that publishes it
 * @param type the event type
 * @param revision the revision of the type's data shape (upcasters read older ones)
 * @param data the data, JSON
 * @param metadata short strings stored with the event: the command and correlation ids, the trace
 */
public record NewEvent(String eventId, String type, int revision, byte[] data, Map<String, String> metadata) {
    /** Checks and copies. */
    public NewEvent {
        Objects.requireNonNull(eventId, "eventId");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(data, "data");
        metadata = Map.copyOf(metadata);
    }
}
