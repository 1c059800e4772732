package dev.keel.server;

import dev.keel.ComponentHealth;
import dev.keel.ComponentHealth.Status;
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
 * The health endpoints, over one tree of components: the runtime (its journal and dead letters, and what was
 * registered with it), the lanes (a delivery running longer than the stuck threshold is critical), each webhook
 * subscription's circuit, the optional components that started degraded, and the server's own checks (Redis).
 *
 * <ul>
 *   <li>{@code /health/live}: the process answers.
 *   <li>{@code /health/ready}: 503 while starting or draining and when a component is critical, naming each;
 *       otherwise 200 with {@code "status": "UP"} or {@code "DEGRADED"} and the components.
 *   <li>{@code /health}: the whole tree, with every component's status, reason and details; 503 when one is
 *       critical.
 *   <li>{@code /health/startup}: each component's start, its state and how long it took; 503 until started.
 * </ul>
 */
final class HealthRoutes {
    private final Keel keel;
    private final Lifecycle lifecycle;
    private final Bodies bodies;
    private final Duration stuckAfter;
    private final SubscriptionNames names;
    private final WebhookSubscriptions webhooks;
    private final Startup startup;
    private final List<ComponentHealth.Check> checks;

    HealthRoutes(
            Keel keel,
            Lifecycle lifecycle,
            Bodies bodies,
            Duration stuckAfter,
            WebhookSubscriptions webhooks,
            Startup startup,
            List<ComponentHealth.Check> checks) {
        this.checks = List.copyOf(checks);
        this.keel = keel;
        this.lifecycle = lifecycle;
        this.bodies = bodies;
        this.stuckAfter = stuckAfter;
        this.names = webhooks;
        this.webhooks = webhooks;
        this.startup = startup;
    }

    void register(RoutesConfig routes) {
        routes.get("/health/live", ctx -> bodies.json(ctx, 200, Map.of("status", "UP")));
        routes.get("/health/ready", this::ready);
        routes.get("/health/startup", this::startup);
        routes.get("/health", this::tree);
    }

    /** Every component, the server's first. */
    List<ComponentHealth> components() {
        List<ComponentHealth> out = new ArrayList<>();
        out.add(keel.health());
        out.add(lanes());
        out.add(webhooks.health());
        out.add(startup.health());
        for (ComponentHealth.Check check : checks) {
            out.add(ComponentHealth.from(check));
        }
        return out;
    }

    private ComponentHealth lanes() {
        List<Keel.StuckLane> stuck = keel.stuckLanes(stuckAfter);
        Map<String, Object> details = Map.of("stuckAfterSeconds", stuckAfter.toSeconds(), "stuck", stuck.size());
        if (stuck.isEmpty()) {
            return ComponentHealth.healthy("lanes", details);
        }
        return new ComponentHealth(
                "lanes",
                Status.CRITICAL,
                stuck.size() + " delivery(ies) running longer than " + stuckAfter + ": "
                        + stuck.stream()
                                .limit(5)
                                .map(l -> "subscription '" + names.userName(l.subscription()) + "' lane " + l.lane()
                                        + " for " + l.running().toSeconds() + " s")
                                .collect(Collectors.joining(", "))
                        + " (a handler that does not return: give it a timeout, or find what it waits on)",
                details);
    }

    private void ready(Context ctx) {
        notStartingOrDraining();
        List<ComponentHealth> components = components();
        List<String> critical = new ArrayList<>();
        for (ComponentHealth c : components) {
            if (c.status() == Status.CRITICAL) {
                critical.add(c.name() + ": " + c.reason());
            }
        }
        if (!critical.isEmpty()) {
            throw new ProblemException(503, "not-ready", "Not ready", String.join("; ", critical));
        }
        bodies.json(ctx, 200, Map.of("status", overall(components), "components", shown(components)));
    }

    private void tree(Context ctx) {
        List<ComponentHealth> components = components();
        String status = overall(components);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("status", status);
        body.put("server", lifecycle.draining() ? "draining" : lifecycle.started() ? "started" : "starting");
        body.put("components", shown(components));
        bodies.json(ctx, status.equals("DOWN") ? 503 : 200, body);
    }

    private void startup(Context ctx) {
        List<Map<String, Object>> shown = new ArrayList<>();
        for (Startup.Step s : startup.steps()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("state", s.state().name());
            m.put("optional", s.optional());
            m.put("dependsOn", s.dependsOn());
            m.put("tookMillis", s.took().toMillis());
            if (s.reason() != null) {
                m.put("reason", s.reason());
            }
            shown.add(m);
        }
        boolean started = lifecycle.started();
        bodies.json(ctx, started ? 200 : 503, Map.of("status", started ? "UP" : "STARTING", "components", shown));
    }

    private void notStartingOrDraining() {
        if (!lifecycle.started() || lifecycle.draining()) {
            throw new ProblemException(
                    503,
                    "not-ready",
                    "Not ready",
                    lifecycle.draining() ? "the server is shutting down" : "the server is starting");
        }
    }

    /** UP, DEGRADED or DOWN (a component critical): the probes' words for the worst status. */
    private static String overall(List<ComponentHealth> components) {
        Status worst = Status.HEALTHY;
        for (ComponentHealth c : components) {
            worst = worst.worst(c.status());
        }
        return switch (worst) {
            case HEALTHY -> "UP";
            case DEGRADED -> "DEGRADED";
            case CRITICAL -> "DOWN";
        };
    }

    /** Components by name, each with its status, reason, details and the components it holds. */
    private static Map<String, Object> shown(List<ComponentHealth> components) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (ComponentHealth h : components) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("status", h.status().name());
            if (h.reason() != null) {
                m.put("reason", h.reason());
            }
            m.put("details", h.details());
            if (!h.components().isEmpty()) {
                m.put("components", shown(h.components()));
            }
            out.put(h.name(), m);
        }
        return out;
    }
}
