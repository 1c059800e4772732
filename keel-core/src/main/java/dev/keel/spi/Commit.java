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
 * @param removedDeadLetters ids of dead letters to remove (reprocessed)
 */
public record Commit(
        String subscription,
        int lane,
        long cursor,
        List<Pending> upserts,
        List<Long> removals,
        List<DeadLetter> deadLetters,
        List<String> removedDeadLetters) {
    /** The cursor value meaning "leave the cursor where it is". */
    public static final long UNCHANGED = -1;

    public Commit {
        upserts = List.copyOf(upserts);
        removals = List.copyOf(removals);
        deadLetters = List.copyOf(deadLetters);
        removedDeadLetters = List.copyOf(removedDeadLetters);
    }

    /** Whether applying it would change nothing. */
    public boolean isEmpty() {
        return cursor == UNCHANGED
                && upserts.isEmpty()
                && removals.isEmpty()
                && deadLetters.isEmpty()
                && removedDeadLetters.isEmpty();
    }
}
