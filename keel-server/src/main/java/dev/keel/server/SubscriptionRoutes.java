package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@code /v1/subscriptions}: list, show, create or replace, and delete a tenant's webhook subscriptions. */
final class SubscriptionRoutes {
    private final WebhookSubscriptions subscriptions;
    private final ObjectMapper mapper;
    private final Authenticator auth;
    private final Bodies bodies;

    SubscriptionRoutes(WebhookSubscriptions subscriptions, Authenticator auth, Bodies bodies) {
        this.subscriptions = subscriptions;
        this.mapper = bodies.mapper();
        this.auth = auth;
        this.bodies = bodies;
    }

    void register(RoutesConfig routes) {
        routes.get("/v1/subscriptions", ctx -> {
            String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
            bodies.json(
                    ctx,
                    200,
                    Map.of(
                            "items",
                            subscriptions.list(tenant).stream()
                                    .map(s -> view(tenant, s, false))
                                    .toList()));
        });
        routes.get("/v1/subscriptions/{name}", ctx -> {
            String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
            String name = ctx.pathParam("name");
            WebhookSubscription s = subscriptions.get(tenant, name).orElseThrow(() -> notFound(name));
            bodies.json(ctx, 200, view(tenant, s, false));
        });
        routes.put("/v1/subscriptions/{name}", this::put);
        routes.delete("/v1/subscriptions/{name}", ctx -> {
            String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
            String name = ctx.pathParam("name");
            boolean deleted;
            try {
                deleted = subscriptions.delete(tenant, name);
            } catch (IllegalStateException e) {
                throw new ProblemException(409, "subscription-declared", "Declared in configuration", e.getMessage());
            }
            if (!deleted) {
                throw notFound(name);
            }
            ctx.status(204);
        });
    }

    private void put(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        String name = ctx.pathParam("name");
        JsonNode body;
        try {
            body = mapper.readTree(bodies.read(ctx));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw ProblemException.badRequest(
                    "malformed-json", "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ProblemException.badRequest("unreadable-body", "the request body could not be read: " + e);
        }
        WebhookSubscriptions.Put put;
        try {
            put = subscriptions.put(tenant, name, body);
        } catch (IllegalArgumentException e) {
            throw ProblemException.badRequest("invalid-subscription", e.getMessage());
        } catch (IllegalStateException e) {
            throw new ProblemException(409, "subscription-declared", "Declared in configuration", e.getMessage());
        }
        // The whole secret is shown when the subscription is created, so a generated one can be handed to the
        // receiver; never afterwards.
        bodies.json(ctx, put.created() ? 201 : 200, view(tenant, put.subscription(), put.created()));
    }

    private Map<String, Object> view(String tenant, WebhookSubscription s, boolean withSecret) {
        Map<String, Object> m = new LinkedHashMap<>(s.toJson(withSecret));
        m.put("circuit", subscriptions.circuit(tenant, s.name()));
        return m;
    }

    private static ProblemException notFound(String name) {
        return new ProblemException(
                404,
                "subscription-not-found",
                "Subscription not found",
                "there is no subscription named '" + name + "'; GET /v1/subscriptions lists them");
    }
}
