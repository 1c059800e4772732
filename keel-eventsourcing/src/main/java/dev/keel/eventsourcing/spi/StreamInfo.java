package dev.keel.eventsourcing.spi;

import java.util.Map;

/**
 * What a store knows of a stream besides its events.
 *
 * @param stream the stream
 * @param type the aggregate type it belongs to
 * @param version its version: the number of events appended to it
 * @param deleted whether it was deleted (its tombstone)
 * @param metadata its metadata
 */
public record StreamInfo(String stream, String type, long version, boolean deleted, Map<String, String> metadata) {}
