package dev.keel.jdbc;

import java.time.Instant;

/**
 * An event a read model applies, read back from the event store (through its type's upcasters).
 *
 * @param stream the stream ({@code type:id})
 * @param version its version in the stream
 * @param type the event type
 * @param eventId the event's id
 * @param event the event, as its class
 * @param recordedAt when it was stored
 */
public record ProjectedEvent(
        String stream, long version, String type, String eventId, Object event, Instant recordedAt) {}
