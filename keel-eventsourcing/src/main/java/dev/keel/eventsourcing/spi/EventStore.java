package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.ExpectedVersion;
import dev.keel.eventsourcing.StreamConflictException;
import dev.keel.eventsourcing.StreamDeletedException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * Streams of events, each with a version, stored in the journal's database. The store keeps data as bytes and
 * knows no event classes: {@link dev.keel.eventsourcing.EventSourcing} encodes, decodes and upcasts.
 *
 * <p>Every method may be called from many threads at once.
 */
public interface EventStore {
    /**
     * Appends a stream's events if the stream is at the expected version, and publishes the log events in the
     * same transaction, through {@code publisher}. Each call commits or fails on its own, also when the store
     * writes many calls in one transaction.
     *
     * @return completes with the stream's new version once durable; fails with {@link StreamConflictException},
     *     {@link StreamDeletedException}, {@link CommandAlreadyAppliedException} (the write's command id was
     *     applied before), or the journal's failure; a failed append stored nothing
     */
    CompletableFuture<Long> append(StreamWrite write, LogPublisher publisher);

    /** Up to {@code max} events of the stream after {@code afterVersion}, in version order; none if unknown. */
    List<RecordedEvent> load(String stream, long afterVersion, int max);

    /** The stream's version, type, tombstone and metadata; empty if nothing was ever appended to it. */
    Optional<StreamInfo> info(String stream);

    /** What an applied command came to; empty for a command never applied (or whose record was pruned). */
    Optional<AppliedCommand> appliedCommand(String commandId);

    /**
     * Forgets the commands applied before {@code before}: a command with one of their ids would then be decided
     * again. Returns how many were forgotten.
     */
    int pruneCommands(java.time.Instant before);

    /**
     * How many live (not deleted) streams of the type carry each label (streams appended without one are
     * counted under the empty string).
     */
    Map<String, Long> labels(String streamType);

    /** The stream's snapshot, if one was saved. */
    Optional<Snapshot> snapshot(String stream);

    /** Saves the stream's snapshot, replacing an older one (a snapshot older than the stored one is ignored). */
    void saveSnapshot(Snapshot snapshot);

    /** Deletes the stream's snapshot; returns whether there was one. Loads then fold all events. */
    boolean deleteSnapshot(String stream);

    /**
     * Replaces the stream's metadata (a map of short strings, for owners, retention hints, labels).
     *
     * @throws IllegalArgumentException when the stream does not exist
     */
    void metadata(String stream, Map<String, String> metadata);

    /**
     * Deletes the stream if it is at the expected version: its events and snapshot are removed, and a
     * tombstone refuses later appends. Events it published to the log stay there until retention prunes them.
     *
     * @throws StreamConflictException at another version
     * @throws IllegalArgumentException when the stream does not exist
     */
    void delete(String stream, ExpectedVersion expected);
}
