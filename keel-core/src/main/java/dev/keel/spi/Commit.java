package dev.keel.spi;

import dev.keel.DeadLetter;
import java.util.List;

/**
 * Outcomes of deliveries on one (subscription, lane), applied by {@link Journal#commit} in one atomic step:
 * either all of it is stored or none.
 *
 * @param subscription the subscription
 * @param lane the lane
 * @param cursor the new cursor (the last sequence the subscription is done with on the main path), or
 *     {@link #UNCHANGED}
 * @param upserts pending entries to insert or replace
 * @param removals sequences of pending entries to remove
 * @param deadLetters dead letters to add
 * @param removedDeadLetters ids of dead letters to remove (reprocessed), with their reprocess requests
 * @param tally outcome counts to add to the subscription's totals
 * @param fence the lane's fencing token the committer holds, or {@link #NO_FENCE}; an engine with leases
 *     refuses the commit with {@link LeaseLostException} when the lane's token is another
 */
public record Commit(
        String subscription,
        int lane,
        long cursor,
        List<Pending> upserts,
        List<Long> removals,
        List<DeadLetter> deadLetters,
        List<String> removedDeadLetters,
        Tally tally,
        long fence) {
    /** The cursor value meaning "leave the cursor where it is". */
    public static final long UNCHANGED = -1;

    /** The fence of a commit made without a lease. */
    public static final long NO_FENCE = -1;

    /** A commit made without a lease. */
    public Commit(
            String subscription,
            int lane,
            long cursor,
            List<Pending> upserts,
            List<Long> removals,
            List<DeadLetter> deadLetters,
            List<String> removedDeadLetters) {
        this(subscription, lane, cursor, upserts, removals, deadLetters, removedDeadLetters, Tally.ZERO, NO_FENCE);
    }

    public Commit {
        upserts = List.copyOf(upserts);
        removals = List.copyOf(removals);
        deadLetters = List.copyOf(deadLetters);
        removedDeadLetters = List.copyOf(removedDeadLetters);
        java.util.Objects.requireNonNull(tally, "tally");
    }

    /** Whether applying it would change nothing. */
    public boolean isEmpty() {
        return cursor == UNCHANGED
                && upserts.isEmpty()
                && removals.isEmpty()
                && deadLetters.isEmpty()
                && removedDeadLetters.isEmpty()
                && tally.isZero();
    }
}
