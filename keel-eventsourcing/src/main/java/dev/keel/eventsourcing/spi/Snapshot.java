package dev.keel.eventsourcing.spi;

import java.time.Instant;
import java.util.Objects;

/**
 * A stream's state as of a version, so a load folds only the events after it. A snapshot is a cache: safe
 * to delete, and ignored (with a warning) when it no longer reads.
 *
 * @param stream the stream
 * @param version the version the state is at
 * @param stateType the state's class, as the runtime names it
 * @param revision the snapshot revision of the aggregate type that wrote it; others are ignored
 * @param state the state, JSON
 * @param takenAt when it was taken
 */
public record Snapshot(String stream, long version, String stateType, int revision, byte[] state, Instant takenAt) {
    /** Checks. */
    public Snapshot {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(stateType, "stateType");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(takenAt, "takenAt");
        if (version < 1) {
            throw new IllegalArgumentException("a snapshot is of version 1 or later but was " + version);
        }
    }
}
