package dev.keel.spi;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * The storage SPI under every Keel engine: a log split into lanes, cursors per (subscription, lane), the
 * pending set (retries, delayed and parked deliveries), dead letters and dedup records.
 *
 * <p>The runtime owns the decisions (which lane, what is due, what to park); an engine only stores and
 * reads. Within one (subscription, lane) the runtime calls {@link #commit} from one thread at a time.
 * Engines must make {@link #append} durable before its future completes and {@link #commit} atomic.
 * Every engine runs the contract suite in {@code keel-test}.
 */
public interface Journal extends AutoCloseable {

    /**
     * Opens the journal for a runtime with this many lanes.
     *
     * @throws JournalException when the store is unreachable, or holds data written with another lane count
     */
    void open(int lanes);

    /**
     * Appends a batch in order. The future completes, once the batch is durable, with one result per
     * append in the same order; it fails with a {@link JournalException} when nothing was stored.
     */
    CompletableFuture<List<AppendResult>> append(List<Append> batch);

    /** The highest sequence appended to the lane, 0 when it is empty. */
    long head(int lane);

    /** Up to {@code max} records of the lane with a sequence greater than {@code after}, in order. */
    List<LogRecord> read(int lane, long after, int max);

    /** The stored cursor of a subscription on a lane, empty when it has none yet. */
    OptionalLong cursor(String subscription, int lane);

    /** Applies the outcomes atomically. */
    void commit(Commit commit);

    /** Every pending entry of a subscription on a lane, ordered by sequence. */
    List<Pending> pending(String subscription, int lane);

    /** Dead letters meeting the query, oldest first. */
    List<DeadLetter> deadLetters(DeadLetterQuery query);

    /** One dead letter by id. */
    Optional<DeadLetter> deadLetter(String id);

    /** Replaces a stored dead letter (to mark it as poison); false when there is none with its id. */
    boolean updateDeadLetter(DeadLetter deadLetter);

    /** Deletes one dead letter; false when there was none with that id. */
    boolean deleteDeadLetter(String id);

    /** Deletes the dead letters dead-lettered before the instant; returns how many. */
    int purgeDeadLetters(Instant before);

    /** How many dead letters a subscription has (every subscription when null). */
    long countDeadLetters(String subscription);

    /**
     * Removes records of the lane with a sequence at or below {@code passed} that were appended before
     * {@code appendedBefore}, and dedup records that expired before {@code now}.
     */
    void prune(int lane, long passed, Instant appendedBefore, Instant now);

    /**
     * How often the runtime should prune each lane: pruning a memory engine is nearly free and keeps the
     * heap small, while a database pays a transaction for it. One second unless the engine says otherwise.
     */
    default java.time.Duration pruneInterval() {
        return java.time.Duration.ofSeconds(1);
    }

    /**
     * How long a busy subscription may hold back a commit that only moves its cursor, so that several passes
     * share one transaction. An idle one commits at once. After a crash, what was delivered but not yet
     * committed is delivered again, so this widens the redelivery window by at most this long. Zero (the
     * default) commits every pass.
     */
    default java.time.Duration commitInterval() {
        return java.time.Duration.ZERO;
    }

    /**
     * Stores a pause every instance honours, keyed by what it pauses ({@code subscription:<name>} or
     * {@code circuit:<breaker>}); a null {@code until} removes it.
     */
    void pause(String key, java.time.Instant until);

    /** The pauses stored and not yet over at {@code now}. */
    java.util.Map<String, java.time.Instant> pauses(java.time.Instant now);

    /** Lane leases, when several instances may share this journal; empty for single-instance engines. */
    default java.util.Optional<LaneLeases> leases() {
        return java.util.Optional.empty();
    }

    /** Releases the store. */
    @Override
    void close();

    /**
     * The outcome of one append.
     *
     * @param lane the lane the event is in
     * @param sequence its sequence there
     * @param eventId the id of the stored event (the earlier one for a duplicate)
     * @param duplicate whether the append matched a live dedup key and stored nothing
     */
    record AppendResult(int lane, long sequence, String eventId, boolean duplicate) {}
}
