package dev.keel.eventsourcing.spi;

import java.time.Instant;
import java.util.Map;

/**
 * An event as stored in its stream.
 *
 * @param stream the stream
 * @param version the event's version: 1 for a stream's first event
 * @param eventId the event's id
 * @param type the event type
 * @param revision the revision of its data shape when it was written
 * @param data the data, JSON
 * @param metadata what was stored with it
 * @param recordedAt when its append committed (about)
 */
public record RecordedEvent(
        String stream,
        long version,
        String eventId,
        String type,
        int revision,
        byte[] data,
        Map<String, String> metadata,
        Instant recordedAt) {}
