package dev.keel;

import java.util.List;

/**
 * Counters of one subscription and its current backlog. The delivery counts are totals the journal keeps for
 * the subscription's name (they survive restarts and {@link Keel#replace}): what was committed when this runtime
 * registered it, plus what this runtime counted since. Instances sharing a journal each show their own view.
 *
 * @param name the subscription
 * @param delivered successful deliveries
 * @param failedAttempts attempts that threw or timed out
 * @param retriesScheduled retries scheduled after failures
 * @param deadLettered events dead-lettered
 * @param deadLetters dead letters held now
 * @param pendingDue deliveries waiting for a retry or their delivery time
 * @param parked deliveries parked behind an earlier failing event of the same key or lane
 * @param lag events appended to its lanes that it has not passed yet
 * @param pauses times a lane paused (open circuit, rate limit, full bulkhead)
 * @param lagByLane the lag of each lane, by lane number (on this instance's view; lanes another instance
 *     holds count what this one last saw)
 */
public record SubscriptionStats(
        String name,
        long delivered,
        long failedAttempts,
        long retriesScheduled,
        long deadLettered,
        long deadLetters,
        long pendingDue,
        long parked,
        long lag,
        long pauses,
        List<Long> lagByLane) {
    public SubscriptionStats {
        lagByLane = List.copyOf(lagByLane);
    }
}
