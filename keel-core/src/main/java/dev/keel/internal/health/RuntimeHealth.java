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
 * capacity), and the components its user registered. Any thread may ask. One ping of the journal runs at a time, on
 * the thread of a request that finds the last one older than a second; the others answer from the last one, so a
 * busy pool or a silent database holds at most one request, and a ping that has not answered for
 * {@link #PING_STALE} makes the journal critical without waiting for it.
 */
public final class RuntimeHealth {
    /** Past this share of the capacity, dead letters make the runtime degraded. */
    static final double DEGRADED_SHARE = 0.5;
    /** How long a ping's result is reused. */
    static final long PING_REUSE_NANOS = java.time.Duration.ofSeconds(1).toNanos();
    /** A ping under way longer than this makes the journal critical. */
    static final java.time.Duration PING_STALE = java.time.Duration.ofSeconds(10);

    /** The last ping's result; replaced whole by the thread that pinged. */
    private record Ping(long atNanos, ComponentHealth result) {}

    private final java.util.concurrent.atomic.AtomicReference<Ping> lastPing =
            new java.util.concurrent.atomic.AtomicReference<>();
    /** Since when a ping is under way (monotonic nanoseconds), or 0. */
    private final java.util.concurrent.atomic.AtomicLong pinging = new java.util.concurrent.atomic.AtomicLong();

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
        long now = nanos.getAsLong();
        Ping last = lastPing.get();
        if (last != null && now - last.atNanos() < PING_REUSE_NANOS) {
            return last.result();
        }
        long since = pinging.get();
        // A ping that hangs past PING_STALE is given up on: the next request may try again.
        boolean claimed = since == 0
                ? pinging.compareAndSet(0, now)
                : now - since > PING_STALE.toNanos() && pinging.compareAndSet(since, now);
        if (!claimed) {
            // Another request pings now: answer from the last result, unless the ping under way is stuck.
            long under = since != 0 ? since : pinging.get();
            if (under != 0 && now - under > PING_STALE.toNanos()) {
                return new ComponentHealth(
                        "journal",
                        Status.CRITICAL,
                        "the journal has not answered a read for " + (now - under) / 1_000_000_000L
                                + " s (its database is slow, unreachable or out of connections)",
                        Map.of());
            }
            return last != null ? last.result() : ComponentHealth.healthy("journal", Map.of());
        }
        try {
            ComponentHealth result = ping();
            lastPing.set(new Ping(nanos.getAsLong(), result));
            return result;
        } finally {
            pinging.set(0);
        }
    }

    private ComponentHealth ping() {
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
