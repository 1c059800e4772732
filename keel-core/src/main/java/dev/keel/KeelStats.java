package dev.keel;

import java.util.List;

/**
 * A snapshot of the runtime's counters.
 *
 * @param emitted events this runtime accepted since it was built
 * @param duplicates emits answered as duplicates
 * @param rejected emits refused (invalid, too large, loop, intake full, closed)
 * @param lanes the lane count
 * @param subscriptions per-subscription figures
 */
public record KeelStats(
        long emitted, long duplicates, long rejected, int lanes, List<SubscriptionStats> subscriptions) {
    public KeelStats {
        subscriptions = List.copyOf(subscriptions);
    }

    /** Successful deliveries over every subscription. */
    public long delivered() {
        return subscriptions.stream().mapToLong(SubscriptionStats::delivered).sum();
    }

    /** Events dead-lettered over every subscription. */
    public long deadLettered() {
        return subscriptions.stream().mapToLong(SubscriptionStats::deadLettered).sum();
    }

    /** Retries scheduled over every subscription. */
    public long retriesScheduled() {
        return subscriptions.stream()
                .mapToLong(SubscriptionStats::retriesScheduled)
                .sum();
    }

    /** The figures of one subscription. */
    public SubscriptionStats subscription(String name) {
        return subscriptions.stream()
                .filter(s -> s.name().equals(name))
                .findFirst()
                .orElseThrow(() -> new SubscriptionException("no subscription named '" + name + "'"));
    }
}
