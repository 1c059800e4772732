package dev.keel.server;

import dev.keel.ComponentHealth;
import dev.keel.Keel;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * {@code /health/live}, {@code /health/ready} and {@code /health/startup}. Ready means started, not draining,
 * the journal readable, no delivery running longer than the stuck threshold, and no component (such as Redis)
 * critical; a degraded component shows as {@code "status": "DEGRADED"} on a ready server.
 */
final class HealthRoutes {
    private final Keel keel;
    private final Lifecycle lifecycle;
    private final Bodies bodies;
    private final Duration stuckAfter;
    private final SubscriptionNames names;
    private final List<ComponentHealth.Check> checks;

    HealthRoutes(
            Keel keel,
            Lifecycle lifecycle,
            Bodies bodies,
            Duration stuckAfter,
            SubscriptionNames names,
            List<ComponentHealth.Check> checks) {
        this.checks = List.copyOf(checks);
        this.keel = keel;
        this.lifecycle = lifecycle;
        this.bodies = bodies;
        this.stuckAfter = stuckAfter;
        this.names = names;
    }

    void register(RoutesConfig routes) {
        routes.get("/health/live", ctx -> bodies.json(ctx, 200, Map.of("status", "UP")));
        routes.get("/health/ready", this::ready);
        routes.get("/health/startup", this::startup);
    }

    private void ready(Context ctx) {
        if (!lifecycle.started() || lifecycle.draining()) {
            throw new ProblemException(
                    503,
                    "not-ready",
                    "Not ready",
                    lifecycle.draining() ? "the server is shutting down" : "the server is starting");
        }
        try {
            keel.logAccess().ping();
        } catch (RuntimeException e) {
            throw new ProblemException(
                    503, "not-ready", "Not ready", "journal: the journal cannot be read: " + e.getMessage());
        }
        List<Keel.StuckLane> stuck = keel.stuckLanes(stuckAfter);
        if (!stuck.isEmpty()) {
            throw new ProblemException(
                    503,
                    "not-ready",
                    "Not ready",
                    "lanes: " + stuck.size() + " delivery(ies) running longer than " + stuckAfter + ": "
                            + stuck.stream()
                                    .limit(5)
                                    .map(l -> "subscription '" + names.userName(l.subscription()) + "' lane " + l.lane()
                                            + " for " + l.running().toSeconds() + " s")
                                    .collect(Collectors.joining(", ")));
        }
        Map<String, Object> components = new LinkedHashMap<>();
        List<String> critical = new ArrayList<>();
        boolean degraded = false;
        for (ComponentHealth.Check check : checks) {
            ComponentHealth h = check.check();
            Map<String, Object> shown = new LinkedHashMap<>();
            shown.put("status", h.status().name());
            if (h.reason() != null) {
                shown.put("reason", h.reason());
            }
            shown.put("details", h.details());
            components.put(h.name(), shown);
            if (h.status() == ComponentHealth.Status.CRITICAL) {
                critical.add(h.name() + ": " + h.reason());
            } else if (h.status() == ComponentHealth.Status.DEGRADED) {
                degraded = true;
            }
        }
        if (!critical.isEmpty()) {
            throw new ProblemException(503, "not-ready", "Not ready", String.join("; ", critical));
        }
        if (components.isEmpty()) {
            bodies.json(ctx, 200, Map.of("status", "UP"));
        } else {
            bodies.json(ctx, 200, Map.of("status", degraded ? "DEGRADED" : "UP", "components", components));
        }
    }

    private void startup(Context ctx) {
        if (!lifecycle.started()) {
            throw new ProblemException(503, "starting", "Starting", "the server is starting");
        }
        bodies.json(ctx, 200, Map.of("status", "UP"));
    }
}
