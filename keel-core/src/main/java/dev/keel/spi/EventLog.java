package dev.keel.spi;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntConsumer;

/**
 * The log and the cursors: events appended to lanes, and per (subscription, lane) the cursor, the pending
 * set (retries, delayed and parked deliveries) and the outcome counts.
 *
 * <p>The runtime owns the decisions (which lane, what is due, what to park); an engine stores and reads.
 * Within one (subscription, lane) the runtime commits from one thread at a time. {@link #append} completes
 * once the batch is durable; {@link #commit} is atomic.
 */
public interface EventLog {

    /**
     * Opens the log for a runtime with this many lanes.
     *
     * @throws JournalException when the store is unreachable, or holds data written with another lane count
     */
    void open(int lanes);

    /**
     * Appends a batch in order, all or nothing. The future completes, once the batch is durable, with one
     * result per append in the same order; it fails with a {@link JournalException} when nothing was stored.
     * An append whose dedup key is live stores nothing and reports the earlier event: of two appends with
     * the same key, even from two runtimes at once, exactly one is stored.
     */
    CompletableFuture<List<AppendResult>> append(List<Append> batch);

    /** Appends one event; see {@link #append(List)}. Engines that store at once may complete before returning. */
    default CompletableFuture<AppendResult> append(Append one) {
        return append(List.of(one)).thenApply(List::getFirst);
    }

    /**
     * Appends one event at once, for an engine that stores synchronously (in memory): the result, or null when
     * this engine completes appends later (then the runtime uses {@link #append(Append)}). Saves the emit path a
     * future per event where none is needed.
     */
    default AppendResult appendNow(Append one) {
        return null;
    }

    /** The highest sequence appended to the lane, 0 when it is empty. */
    long head(int lane);

    /**
     * Up to {@code max} records of the lane with a sequence greater than {@code after}, in order: a page, which
     * may hold fewer than {@code max} while more follow; empty only when none follows (or all that followed was
     * pruned).
     */
    List<LogRecord> read(int lane, long after, int max);

    /** The stored cursor of a subscription on a lane, empty when it has none yet. */
    OptionalLong cursor(String subscription, int lane);

    /**
     * Gives a subscription new to the lane its first cursor, {@code startAt}, unless it has one already; returns
     * the cursor stored afterwards. It never moves a cursor that exists, so a runtime registering a subscription
     * cannot undo what the lane's owner delivered.
     */
    long openCursor(String subscription, int lane, long startAt);

    /**
     * Applies the outcomes atomically; with a fence, only while the lane's fencing token is still that fence.
     *
     * @throws LeaseLostException when the fence is not the lane's token any more; nothing was written
     */
    void commit(Commit commit);

    /** Every pending entry of a subscription on a lane, ordered by sequence. */
    List<Pending> pending(String subscription, int lane);

    /** The outcome counts committed for a subscription, over all lanes. */
    Tally tally(String subscription);

    /**
     * Removes records of the lane with a sequence at or below {@code passed} that were appended before
     * {@code appendedBefore}, and dedup records that expired before {@code now}.
     */
    void prune(int lane, long passed, Instant appendedBefore, Instant now);

    /**
     * How often the runtime should prune each lane: pruning a memory engine is nearly free and keeps the
     * heap small, while a database pays a transaction for it. One second unless the engine says otherwise.
     */
    default Duration pruneInterval() {
        return Duration.ofSeconds(1);
    }

    /**
     * How long a busy subscription may hold back a commit, so that several passes share one transaction: the
     * cursor's advance, retries scheduled, parked keys and dead letters alike. An idle one commits at once, as
     * do a lane being handed to another instance and a pass that ends on a poison event. After a crash (or when
     * a lane reloads its state after a virtual-machine error in a handler), what was decided but not yet
     * committed is done again (events delivered again, failed attempts made again), so this widens the
     * redelivery window by this long plus one delivery. Zero (the default) commits every pass.
     */
    default Duration commitInterval() {
        return Duration.ZERO;
    }

    /**
     * Calls {@code grew} with a lane's number when the engine learns that the lane grew by an append it did not
     * make itself (another instance's), for engines told of appends as they happen (Redis publishes each batch);
     * the runtime then wakes the lane's readers at once instead of at their next poll. The listener runs on the
     * engine's thread and returns at once. Engines that are not told return a handle that does nothing.
     */
    default AutoCloseable watchAppendsElsewhere(IntConsumer grew) {
        return () -> {};
    }

    /**
     * A hint that another instance says it appended to the lane up to the sequence ({@link dev.keel.AppendNotices}):
     * an engine that caches heads reads them again before its next {@link #head} instead of waiting for its
     * refresh. Only a hint: an engine never reports a head it did not read from its store.
     */
    default void appendedElsewhere(int lane, long sequence) {}

    /** Whether {@link #watchAppendsElsewhere} is told of other instances' appends (false unless an engine says so). */
    default boolean tellsOfAppendsElsewhere() {
        return false;
    }

    /** Whether what is appended survives the process (false for the memory engine). */
    default boolean durable() {
        return true;
    }

    /**
     * Compresses the data of the events written from now on as {@code compression} says ({@code
     * Keel.builder().payloadCompression(...)} asks it before the runtime opens the journal). An engine that stores
     * events as bytes passes it to its {@link EnvelopeCodec} ({@link EnvelopeCodec#compressPayloads}), and reads
     * every record back whatever it was written with; one that keeps events as objects (the memory engine)
     * ignores it, which is the default.
     */
    default void compressPayloads(dev.keel.PayloadCompression compression) {}

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
