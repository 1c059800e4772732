package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.jdbc.StoreSettings;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code /v1/subscriptions}: list, show, create or replace, and delete a tenant's webhook subscriptions, and rotate
 * their signing secrets.
 */
final class SubscriptionRoutes {
    /** How long a rotated-out secret keeps signing when the request does not say: 24 h. */
    static final Duration DEFAULT_OVERLAP = Duration.ofHours(24);
    /** The longest overlap: 30 days. */
    static final Duration MAX_OVERLAP = Duration.ofDays(30);

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

    void register(RoutesConfig routes, AuditLog audit) {
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
        routes.put(
                "/v1/subscriptions/{name}",
                audit.recorded(
                        ctx -> switch (ctx.statusCode()) {
                            case 201 -> "subscription.create";
                            case 200 -> "subscription.replace";
                            default -> "subscription.put";
                        },
                        ctx -> ctx.pathParam("name"),
                        this::put));
        routes.post(
                "/v1/subscriptions/{name}/rotate-secret",
                audit.recorded("subscription.rotate-secret", "name", this::rotateSecret));
        routes.delete("/v1/subscriptions/{name}", audit.recorded("subscription.delete", "name", ctx -> {
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
        }));
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

    /**
     * Generates a new signing secret (or takes the one sent) and keeps the current one signing for an overlap, 24 h by
     * default. The answer holds the whole new secret, once; the previous one is shown shortened.
     */
    private void rotateSecret(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        String name = ctx.pathParam("name");
        JsonNode body = readObject(ctx);
        Duration overlap = DEFAULT_OVERLAP;
        String secret = null;
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            JsonNode v = body.get(field);
            switch (field) {
                case "overlap" -> overlap = overlap(v);
                case "secret" -> {
                    if (!v.isTextual()) {
                        throw ProblemException.badRequest(
                                "invalid-rotation", "'secret' must be a string ('whsec_' and base64) but was " + v);
                    }
                    secret = v.textValue();
                }
                default ->
                    throw ProblemException.badRequest(
                            "invalid-rotation",
                            "unknown field '" + field + "'; send {\"overlap\": \"24h\"} and, to choose the new"
                                    + " secret rather than have one generated, \"secret\"");
            }
        }
        WebhookSubscription rotated;
        try {
            rotated = subscriptions.rotateSecret(tenant, name, secret, overlap).orElseThrow(() -> notFound(name));
        } catch (IllegalArgumentException e) {
            throw ProblemException.badRequest("invalid-rotation", e.getMessage());
        } catch (IllegalStateException e) {
            throw new ProblemException(409, "subscription-declared", "Declared in configuration", e.getMessage());
        }
        Map<String, Object> view = view(tenant, rotated, false);
        @SuppressWarnings("unchecked")
        Map<String, Object> webhook = new LinkedHashMap<>((Map<String, Object>) view.get("webhook"));
        webhook.put("secret", rotated.secret());
        view.put("webhook", webhook);
        bodies.json(ctx, 200, view);
    }

    private static Duration overlap(JsonNode v) {
        Duration overlap;
        try {
            overlap = StoreSettings.parseDuration(v.asText());
        } catch (IllegalArgumentException e) {
            throw ProblemException.badRequest(
                    "invalid-rotation", "'overlap' must be a duration such as 24h or 30m: " + e.getMessage());
        }
        if (!v.isTextual() || overlap.isNegative() || overlap.compareTo(MAX_OVERLAP) > 0) {
            throw ProblemException.badRequest(
                    "invalid-rotation",
                    "'overlap' is how long the current secret keeps signing, from 0s to " + MAX_OVERLAP.toDays()
                            + "d, but was " + v);
        }
        return overlap;
    }

    /** The body as a JSON object; an empty body is an empty object. */
    private JsonNode readObject(Context ctx) {
        byte[] raw = bodies.read(ctx);
        if (raw.length == 0) {
            return mapper.createObjectNode();
        }
        JsonNode body;
        try {
            body = mapper.readTree(raw);
        } catch (IOException e) {
            throw ProblemException.badRequest(
                    "malformed-json", "the request body is not valid JSON: " + e.getMessage());
        }
        if (body == null || !body.isObject()) {
            throw ProblemException.badRequest("malformed-json", "send a JSON object such as {\"overlap\": \"24h\"}");
        }
        return body;
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
