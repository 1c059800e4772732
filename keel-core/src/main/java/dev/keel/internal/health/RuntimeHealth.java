package dev.keel.internal.health;

import dev.keel.ComponentHealth;
import dev.keel.ComponentHealth.Status;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The runtime's own health: the journal (one cheap round trip, timed), the dead-letter store (held against a
 * capacity), and the components its user registered. Stateless: every check reads what the runtime publishes
 * (the dead-letter counts the maintenance pass keeps), so any thread may ask.
 */
public final class RuntimeHealth {
    /** Past this share of the capacity, dead letters make the runtime degraded. */
    static final double DEGRADED_SHARE = 0.5;

    private final Runnable ping;
    private final Supplier<Map<String, Long>> deadLettersBySubscription;
    private final long deadLetterCapacity;
    private final List<ComponentHealth.Check> checks;
    private final LongSupplier nanos;

    /**
     * @param ping one cheap read of the journal; throws when it cannot be read
     * @param deadLettersBySubscription each subscription's dead letters, as last counted
     * @param deadLetterCapacity how many dead letters the operator means to hold at most
     * @param checks the components the user registered
     * @param nanos a monotonic clock for timing the ping
     */
    public RuntimeHealth(
            Runnable ping,
            Supplier<Map<String, Long>> deadLettersBySubscription,
            long deadLetterCapacity,
            List<ComponentHealth.Check> checks,
            LongSupplier nanos) {
        this.ping = ping;
        this.deadLettersBySubscription = deadLettersBySubscription;
        this.deadLetterCapacity = deadLetterCapacity;
        this.checks = List.copyOf(checks);
        this.nanos = nanos;
    }

    /** The runtime and what it holds. */
    public ComponentHealth check() {
        List<ComponentHealth> parts = new ArrayList<>();
        parts.add(journal());
        parts.add(deadLetters());
        for (ComponentHealth.Check c : checks) {
            parts.add(ComponentHealth.from(c));
        }
        return ComponentHealth.of("runtime", Map.of(), parts);
    }

    private ComponentHealth journal() {
        long start = nanos.getAsLong();
        try {
            ping.run();
        } catch (RuntimeException e) {
            return new ComponentHealth(
                    "journal",
                    Status.CRITICAL,
                    "the journal cannot be read: " + e.getMessage(),
                    Map.of("error", e.getClass().getSimpleName()));
        }
        double millis = (nanos.getAsLong() - start) / 1e6;
        return ComponentHealth.healthy("journal", Map.of("pingMillis", Math.round(millis * 100) / 100.0));
    }

    /** Dead letters against the capacity: degraded past half of it, critical at it. */
    ComponentHealth deadLetters() {
        Map<String, Long> bySubscription = deadLettersBySubscription.get();
        long total = bySubscription.values().stream().mapToLong(Long::longValue).sum();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("count", total);
        details.put("capacity", deadLetterCapacity);
        Map<String, Object> most = new LinkedHashMap<>();
        bySubscription.entrySet().stream()
                .filter(e -> e.getValue() > 0)
                .sorted(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()))
                .limit(5)
                .forEach(e -> most.put(e.getKey(), e.getValue()));
        details.put("bySubscription", most);
        if (total >= deadLetterCapacity) {
            return new ComponentHealth(
                    "dead-letters",
                    Status.CRITICAL,
                    total + " dead letters, at or over the capacity of " + deadLetterCapacity
                            + ": reprocess or purge them (GET /v1/dead-letters lists them), or raise the capacity",
                    details);
        }
        if (total > deadLetterCapacity * DEGRADED_SHARE) {
            return new ComponentHealth(
                    "dead-letters",
                    Status.DEGRADED,
                    total + " dead letters, over half the capacity of " + deadLetterCapacity
                            + ": find why deliveries fail (GET /v1/dead-letters shows each error), then reprocess"
                            + " or purge them",
                    details);
        }
        return ComponentHealth.healthy("dead-letters", details);
    }
}
