package dev.keel;

import java.util.Map;
import java.util.Objects;

/**
 * The health of one component a runtime or a server depends on (a journal, a Redis connection), as a health
 * endpoint shows it.
 *
 * @param name the component's name ({@code redis}, {@code journal})
 * @param status how it is
 * @param reason why it is not healthy, in words an operator can act on; null when healthy
 * @param details measurements behind the status (latency, error counts), as JSON-friendly values
 */
public record ComponentHealth(String name, Status status, String reason, Map<String, Object> details) {
    /** How a component is. */
    public enum Status {
        /** Working. */
        HEALTHY,
        /** Working with less than it should (a fallback in use, a dependency down that is not required). */
        DEGRADED,
        /** Not working: what depends on it fails. */
        CRITICAL
    }

    public ComponentHealth {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(status, "status");
        details = Map.copyOf(details);
    }

    /** Checks a component: answers at once, from what the component last measured (no new round trip). */
    @FunctionalInterface
    public interface Check {
        ComponentHealth check();
    }
}
