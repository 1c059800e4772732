package dev.keel.internal.lanes;

import java.time.Instant;

/**
 * What other threads may know of a lane worker, published by its owner at the end of each pass.
 *
 * @param cursor the committed cursor
 * @param due scopes whose head waits for its time
 * @param parked entries parked behind a head
 * @param minPending the lowest pending sequence, {@link Long#MAX_VALUE} when none
 * @param nextDue when the earliest head is due, or null
 * @param pausedUntil until when (by {@link System#nanoTime()}) the lane pauses, 0 when it does not
 * @param blocksLog whether a STRICT lane waits behind a head
 */
record LaneSnapshot(
        long cursor, int due, int parked, long minPending, Instant nextDue, long pausedUntil, boolean blocksLog) {
    static final LaneSnapshot EMPTY = new LaneSnapshot(0, 0, 0, Long.MAX_VALUE, null, 0, false);
}
