package dev.keel;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The health of one component a runtime or a server depends on (the journal, the dead-letter store, a webhook
 * subscription's circuit, a Redis connection), as the health endpoints show it. A component may hold others (the
 * webhooks hold one component per subscription): its status is then the worst of theirs, unless it says worse
 * itself.
 *
 * @param name the component's name ({@code journal}, {@code dead-letters}, {@code redis})
 * @param status how it is
 * @param reason why it is not healthy, in words an operator can act on; null when healthy
 * @param details measurements behind the status (latency, counts), as JSON-friendly values
 * @param components the components it holds, in the order shown; empty for most
 */
public record ComponentHealth(
        String name, Status status, String reason, Map<String, Object> details, List<ComponentHealth> components) {
    /** How a component is, from best to worst. */
    public enum Status {
        /** Working. */
        HEALTHY,
        /** Working with less than it should (a fallback in use, a dependency down that is not required). */
        DEGRADED,
        /** Not working: what depends on it fails. */
        CRITICAL;

        /** The worse of the two. */
        public Status worst(Status other) {
            return other.ordinal() > ordinal() ? other : this;
        }
    }

    public ComponentHealth {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(status, "status");
        details = Map.copyOf(details);
        components = List.copyOf(components);
    }

    /** A component that holds no others. */
    public ComponentHealth(String name, Status status, String reason, Map<String, Object> details) {
        this(name, status, reason, details, List.of());
    }

    /** A healthy component with the measurements behind it. */
    public static ComponentHealth healthy(String name, Map<String, Object> details) {
        return new ComponentHealth(name, Status.HEALTHY, null, details);
    }

    /**
     * A component made of others: its status is the worst of theirs, and its reason names each unhealthy one
     * with its own reason.
     */
    public static ComponentHealth of(String name, Map<String, Object> details, List<ComponentHealth> components) {
        Status worst = Status.HEALTHY;
        List<String> reasons = new ArrayList<>();
        for (ComponentHealth c : components) {
            worst = worst.worst(c.status());
            if (c.status() != Status.HEALTHY) {
                reasons.add(c.name() + ": " + c.reason());
            }
        }
        return new ComponentHealth(
                name, worst, reasons.isEmpty() ? null : String.join("; ", reasons), details, components);
    }

    /**
     * Runs a check. A check that throws or answers nothing is itself the news: the component is shown critical,
     * with what it threw, instead of failing the health request.
     */
    public static ComponentHealth from(Check check) {
        String name = check.getClass().getSimpleName();
        try {
            ComponentHealth h = check.check();
            return h != null
                    ? h
                    : new ComponentHealth(name, Status.CRITICAL, "its health check answered nothing", Map.of());
        } catch (RuntimeException e) {
            return new ComponentHealth(name, Status.CRITICAL, "its health check failed: " + e, Map.of());
        }
    }

    /** Checks a component: answers at once, from what the component last measured or one cheap round trip. */
    @FunctionalInterface
    public interface Check {
        ComponentHealth check();
    }
}
