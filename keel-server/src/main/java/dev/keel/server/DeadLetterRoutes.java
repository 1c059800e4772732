package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterNotFoundException;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.ReplayLimitExceededException;
import dev.keel.ReprocessRequest;
import dev.keel.ReprocessResult;
import dev.keel.SubscriptionException;
import dev.keel.jdbc.StoreSettings;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The dead-letter admin API: list with filters and paging, show one with its full error history, reprocess one
 * or many (with a dry run), delete.
 */
final class DeadLetterRoutes {
    private static final List<String> CRITERIA =
            List.of("type", "subscription", "key", "error", "olderThan", "newerThan", "limit", "dryRun");

    private final Keel keel;
    private final ObjectMapper mapper;
    private final Authenticator auth;
    private final Bodies bodies;
    private final SubscriptionNames names;

    DeadLetterRoutes(Keel keel, Authenticator auth, Bodies bodies, SubscriptionNames names) {
        this.keel = keel;
        this.mapper = bodies.mapper();
        this.auth = auth;
        this.bodies = bodies;
        this.names = names;
    }

    void register(RoutesConfig routes, AuditLog audit) {
        routes.get("/v1/dead-letters", this::list);
        routes.post(
                "/v1/dead-letters/reprocess", audit.recorded("dead-letter.reprocess-many", null, this::reprocessMany));
        routes.get("/v1/dead-letters/{id}", ctx -> bodies.json(ctx, 200, full(find(ctx, ctx.pathParam("id")))));
        routes.post(
                "/v1/dead-letters/{id}/reprocess", audit.recorded("dead-letter.reprocess", "id", this::reprocessOne));
        routes.delete("/v1/dead-letters/{id}", audit.recorded("dead-letter.delete", "id", ctx -> {
            find(ctx, ctx.pathParam("id"));
            if (!keel.deadLetters().delete(ctx.pathParam("id"))) {
                throw notFound(ctx.pathParam("id"));
            }
            ctx.status(204);
        }));
    }

    private void list(Context ctx) {
        DeadLetterQuery query = query(ctx, ctx::queryParam);
        List<DeadLetter> page = keel.deadLetters().list(query);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("items", page.stream().map(this::summary).toList());
        body.put("next", page.size() == query.limit() ? page.getLast().id() : null);
        bodies.json(ctx, 200, body);
    }

    private void reprocessOne(Context ctx) {
        String id = ctx.pathParam("id");
        find(ctx, id);
        try {
            DeadLetter d = keel.deadLetters().reprocess(id);
            bodies.json(ctx, 202, Map.of("reprocessed", d.id()));
        } catch (DeadLetterNotFoundException e) {
            throw notFound(id);
        } catch (ReplayLimitExceededException | SubscriptionException e) {
            throw new ProblemException(409, "not-reprocessable", "Not reprocessable", e.getMessage());
        }
    }

    private void reprocessMany(Context ctx) {
        String tenant = auth.authorize(ctx, dev.keel.server.AccessToken.Scope.ADMIN);
        JsonNode body;
        try {
            byte[] bytes = bodies.read(ctx); // bounded like every body
            body = bytes.length == 0 ? mapper.createObjectNode() : mapper.readTree(bytes);
        } catch (IOException e) {
            throw ProblemException.badRequest("malformed-json", "the request body is not valid JSON");
        }
        if (!body.isObject()) {
            throw ProblemException.badRequest(
                    "invalid-criteria",
                    "send a JSON object of criteria: type, subscription, key, error, olderThan,"
                            + " newerThan, limit, dryRun");
        }
        DeadLetterQuery query =
                query(tenant, name -> body.hasNonNull(name) ? body.get(name).asText() : null);
        for (java.util.Iterator<String> names = body.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!CRITERIA.contains(name)) {
                throw ProblemException.badRequest(
                        "invalid-criteria", "unknown criterion '" + name + "'; use " + String.join(", ", CRITERIA));
            }
        }
        JsonNode limitNode = body.get("limit");
        if (limitNode != null && !(limitNode.isIntegralNumber() && limitNode.asInt() > 0)) {
            throw ProblemException.badRequest("invalid-criteria", "'limit' must be a positive integer");
        }
        JsonNode dryRunNode = body.get("dryRun");
        if (dryRunNode != null && !dryRunNode.isBoolean()) {
            throw ProblemException.badRequest("invalid-criteria", "'dryRun' must be true or false");
        }
        int limit = limitNode != null ? limitNode.asInt() : DeadLetterQuery.MAX_LIMIT;
        ReprocessRequest request = ReprocessRequest.of(query.withLimit(DeadLetterQuery.MAX_LIMIT), limit);
        if (dryRunNode != null && dryRunNode.asBoolean()) {
            request = request.asDryRun();
        }
        ReprocessResult result;
        try {
            result = keel.deadLetters().reprocess(request);
        } catch (SubscriptionException e) {
            throw new ProblemException(
                    409,
                    "not-reprocessable",
                    "Not reprocessable",
                    e.getMessage() + "; dead letters of subscriptions this server does not run cannot be sent"
                            + " back (some may have been sent before this one)");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("matched", result.matched());
        out.put("reprocessed", result.reprocessed());
        out.put("skippedPoison", result.skippedPoison());
        out.put("dryRun", result.dryRun());
        bodies.json(ctx, 200, out);
    }

    private DeadLetterQuery query(Context ctx, java.util.function.Function<String, String> param) {
        return query(auth.authorize(ctx, AccessToken.Scope.ADMIN), param);
    }

    /** The criteria, always within the caller's tenant. */
    private DeadLetterQuery query(String tenant, java.util.function.Function<String, String> param) {
        DeadLetterQuery q =
                tenant == null ? DeadLetterQuery.all() : DeadLetterQuery.all().withTenant(tenant);
        try {
            String v;
            if ((v = param.apply("type")) != null) {
                q = q.withType(v);
            }
            if ((v = param.apply("subscription")) != null) {
                // The name the user gave; a name no webhook subscription has is taken as the runtime's own.
                String runtime = names.runtimeName(tenant, v);
                q = q.withSubscription(runtime != null ? runtime : v);
            }
            if ((v = param.apply("key")) != null) {
                q = q.withKey(v);
            }
            if ((v = param.apply("error")) != null) {
                q = q.withErrorType(v);
            }
            if ((v = param.apply("olderThan")) != null) {
                q = q.withOlderThan(before(v, "olderThan"));
            }
            if ((v = param.apply("newerThan")) != null) {
                q = q.withNewerThan(before(v, "newerThan"));
            }
            if ((v = param.apply("after")) != null) {
                q = q.withAfterId(v);
            }
            if ((v = param.apply("order")) != null) {
                q = switch (v) {
                    case "newest" -> q.withNewestFirst(true);
                    case "oldest" -> q.withNewestFirst(false);
                    default ->
                        throw ProblemException.badRequest(
                                "invalid-criteria", "'order' must be newest or oldest but was '" + v + "'");
                };
            }
            if ((v = param.apply("pageSize")) != null) {
                q = q.withLimit(Integer.parseInt(v));
            }
        } catch (NumberFormatException e) {
            throw ProblemException.badRequest("invalid-criteria", "'pageSize' must be an integer");
        } catch (IllegalArgumentException e) {
            throw ProblemException.badRequest("invalid-criteria", e.getMessage());
        }
        return q;
    }

    private static Instant before(String text, String name) {
        try {
            return Instant.now().minus(StoreSettings.parseDuration(text));
        } catch (IllegalArgumentException | java.time.DateTimeException | ArithmeticException e) {
            throw ProblemException.badRequest("invalid-criteria", "'" + name + "': " + e.getMessage());
        }
    }

    /** The dead letter, if the caller may see it: another tenant's is not found, as if it did not exist. */
    private DeadLetter find(Context ctx, String id) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        return keel.deadLetters()
                .get(id)
                .filter(d -> tenant == null || tenant.equals(d.event().tenant()))
                .orElseThrow(() -> notFound(id));
    }

    private static ProblemException notFound(String id) {
        return new ProblemException(
                404, "dead-letter-not-found", "Not found", "there is no dead letter '" + id + "' (any more)");
    }

    private Map<String, Object> summary(DeadLetter d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", d.id());
        m.put("subscription", names.userName(d.subscription()));
        m.put("eventId", d.event().id());
        m.put("type", d.event().type());
        m.put("partitionKey", d.event().partitionKey());
        m.put("lastErrorType", d.lastErrorType());
        m.put("reason", d.reason());
        m.put("deadLetteredAt", d.deadLetteredAt().toString());
        m.put("replayCount", d.replayCount());
        m.put("poison", d.poison());
        return m;
    }

    private Map<String, Object> full(DeadLetter d) {
        Map<String, Object> m = summary(d);
        m.put("lane", d.lane());
        m.put("sequence", d.sequence());
        m.put("event", CloudEventJson.structured(d.event()));
        m.put(
                "errors",
                d.errors().stream()
                        .map(e -> Map.of(
                                "attempt", e.attempt(),
                                "at", e.at().toString(),
                                "errorType", e.errorType(),
                                "message", e.message() == null ? "" : e.message()))
                        .toList());
        return m;
    }
}
