package dev.keel.server;

import dev.keel.Keel;
import dev.keel.RunningDelivery;
import dev.keel.SubscriptionException;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The deliveries running now, for operators: {@code GET /v1/deliveries} lists them, longest-running first, with how
 * long each has run and its deadline; {@code POST /v1/deliveries/{subscription}/{eventId}/cancel} interrupts one, so
 * its attempt fails and is retried by the subscription's policy. Admin scope; a tenant's token sees and cancels its
 * own webhook subscriptions' deliveries only.
 */
final class DeliveryRoutes {
    private final Keel keel;
    private final Authenticator auth;
    private final Bodies bodies;
    private final SubscriptionNames names;

    DeliveryRoutes(Keel keel, Authenticator auth, Bodies bodies, SubscriptionNames names) {
        this.keel = keel;
        this.auth = auth;
        this.bodies = bodies;
        this.names = names;
    }

    void register(RoutesConfig routes, AuditLog audit) {
        routes.get("/v1/deliveries", this::list);
        routes.post(
                "/v1/deliveries/{subscription}/{eventId}/cancel",
                audit.recorded(
                        ctx -> "delivery.cancel",
                        ctx -> ctx.pathParam("subscription") + "/" + ctx.pathParam("eventId"),
                        this::cancel));
    }

    private void list(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        List<Map<String, Object>> items = keel.runningDeliveries().stream()
                .filter(r -> visible(tenant, r.subscription()))
                .map(this::shown)
                .toList();
        bodies.json(ctx, 200, Map.of("items", items));
    }

    private Map<String, Object> shown(RunningDelivery r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("subscription", names.userName(r.subscription()));
        m.put("lane", r.lane());
        m.put("eventId", r.eventId());
        m.put("type", r.type());
        m.put("key", r.key());
        m.put("attempt", r.attempt());
        m.put("runningMillis", r.running().toMillis());
        m.put("deadline", r.deadline());
        return m;
    }

    private void cancel(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        String subscription = ctx.pathParam("subscription");
        String eventId = ctx.pathParam("eventId");
        String runtime = names.runtimeName(tenant, subscription);
        if (runtime == null && tenant == null) {
            runtime = subscription; // a Java subscription, known by its own name
        }
        boolean cancelled;
        try {
            cancelled = runtime != null && keel.cancel(runtime, eventId);
        } catch (SubscriptionException e) {
            cancelled = false;
        }
        if (!cancelled) {
            throw new ProblemException(
                    404,
                    "not-running",
                    "Not running",
                    "no delivery of event '" + eventId + "' to subscription '" + subscription
                            + "' is running now (GET /v1/deliveries lists those that are)");
        }
        bodies.json(ctx, 202, Map.of("cancelled", eventId, "subscription", subscription));
    }

    /** Whether the caller may see a runtime subscription: all in open mode or for a token of every tenant. */
    private boolean visible(String tenant, String runtime) {
        return tenant == null || runtime.equals(names.runtimeName(tenant, names.userName(runtime)));
    }
}
