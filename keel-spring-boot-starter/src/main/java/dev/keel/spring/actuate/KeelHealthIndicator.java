package dev.keel.spring.actuate;

import dev.keel.ComponentHealth;
import dev.keel.Keel;
import dev.keel.spring.autoconfigure.KeelOutbox;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;

/**
 * Keel's component tree ({@link Keel#health()}) as the {@code keel} entry of the application's health: a critical
 * component makes it {@code DOWN}; a degraded one leaves it {@code UP} with {@code degraded: true} and the reason,
 * as {@code keel serve} answers readiness (503 only when something is critical). When Keel shares the application's
 * database, the transactional outbox is one of the components (degraded while it keeps refused events).
 */
public final class KeelHealthIndicator implements HealthIndicator {
    private final Keel keel;
    private final KeelOutbox outbox;

    /** Keel's health, with the outbox's when Keel shares the application's database. */
    public KeelHealthIndicator(Keel keel, KeelOutbox outbox) {
        this.keel = keel;
        this.outbox = outbox;
    }

    @Override
    public Health health() {
        ComponentHealth h = keel.health();
        if (outbox.present()) {
            List<ComponentHealth> components = new ArrayList<>(h.components());
            components.add(outbox.outbox().health());
            ComponentHealth all = ComponentHealth.of(h.name(), h.details(), components);
            h = new ComponentHealth(
                    h.name(), h.status().worst(all.status()), all.reason(), h.details(), all.components());
        }
        Health.Builder b = new Health.Builder(h.status() == ComponentHealth.Status.CRITICAL ? Status.DOWN : Status.UP);
        b.withDetails(details(h));
        return b.build();
    }

    private static Map<String, Object> details(ComponentHealth h) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", h.status().name().toLowerCase(java.util.Locale.ROOT));
        if (h.status() == ComponentHealth.Status.DEGRADED) {
            out.put("degraded", true);
        }
        if (h.reason() != null) {
            out.put("reason", h.reason());
        }
        out.putAll(h.details());
        if (!h.components().isEmpty()) {
            Map<String, Object> components = new LinkedHashMap<>();
            for (ComponentHealth c : h.components()) {
                components.put(c.name(), details(c));
            }
            out.put("components", components);
        }
        return out;
    }
}
