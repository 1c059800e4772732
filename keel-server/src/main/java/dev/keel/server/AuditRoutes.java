package dev.keel.server;

import dev.keel.spi.AuditTrail;
import dev.keel.spi.AuditTrail.AuditEntry;
import dev.keel.spi.AuditTrail.AuditPage;
import dev.keel.spi.AuditTrail.AuditQuery;
import dev.keel.spi.AuditTrail.Position;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code GET /v1/audit}: the audit trail, newest first, a page at a time ({@code limit}, 1 to 1,000, 100 when left
 * out; {@code cursor} from the previous page's {@code next}), filtered by {@code action}, {@code since} and
 * {@code until} (RFC 3339). Admin scope; a tenant's token sees its tenant's entries only.
 */
final class AuditRoutes {
    private final AuditLog audit;
    private final Authenticator auth;
    private final Bodies bodies;

    AuditRoutes(AuditLog audit, Authenticator auth, Bodies bodies) {
        this.audit = audit;
        this.auth = auth;
        this.bodies = bodies;
    }

    void register(RoutesConfig routes) {
        routes.get("/v1/audit", this::list);
    }

    private void list(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.ADMIN);
        AuditTrail trail = audit.trail()
                .orElseThrow(() -> new ProblemException(
                        501,
                        "no-audit-trail",
                        "No audit trail",
                        "this server's journal engine keeps no audit trail; use SQLite, PostgreSQL, Redis, Kafka or"
                                + " memory"));
        int limit = limit(ctx.queryParam("limit"));
        AuditQuery query = new AuditQuery(
                tenant,
                blankToNull(ctx.queryParam("action")),
                time(ctx.queryParam("since"), "since"),
                time(ctx.queryParam("until"), "until"),
                cursor(ctx.queryParam("cursor")),
                limit);
        AuditPage page = trail.list(query);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("items", page.entries().stream().map(this::shown).toList());
        body.put("next", page.more() ? cursor(Position.of(page.entries().getLast())) : null);
        bodies.json(ctx, 200, body);
    }

    private Map<String, Object> shown(AuditEntry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", e.id());
        m.put("at", e.at().toString());
        m.put("actor", e.actor());
        m.put("tenant", e.tenant());
        m.put("action", e.action());
        m.put("target", e.target());
        try {
            m.put("parameters", bodies.mapper().readTree(e.parameters()));
        } catch (IOException ex) {
            m.put("parameters", e.parameters());
        }
        m.put("remoteAddress", e.remoteAddress());
        m.put("status", e.status());
        return m;
    }

    private static int limit(String text) {
        if (text == null || text.isBlank()) {
            return 100;
        }
        try {
            int limit = Integer.parseInt(text.trim());
            if (limit >= 1 && limit <= 1000) {
                return limit;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw ProblemException.badRequest("invalid-audit-query", "'limit' must be an integer from 1 to 1000");
    }

    private static Instant time(String text, String name) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            return Instant.parse(text.trim());
        } catch (DateTimeParseException e) {
            throw ProblemException.badRequest(
                    "invalid-audit-query", "'" + name + "' must be an RFC 3339 time such as 2026-12-04T10:00:00Z");
        }
    }

    private static String blankToNull(String text) {
        return text == null || text.isBlank() ? null : text.trim();
    }

    /** A page's position as an opaque cursor: base64url of {@code <epoch millis>:<id>}. */
    private static String cursor(Position p) {
        return Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString((p.at().toEpochMilli() + ":" + p.id()).getBytes(StandardCharsets.UTF_8));
    }

    private static Position cursor(String text) {
        if (text == null || text.isBlank()) {
            return null;
        }
        try {
            String decoded = new String(Base64.getUrlDecoder().decode(text.trim()), StandardCharsets.UTF_8);
            int colon = decoded.indexOf(':');
            return new Position(
                    Instant.ofEpochMilli(Long.parseLong(decoded.substring(0, colon))), decoded.substring(colon + 1));
        } catch (IllegalArgumentException | IndexOutOfBoundsException e) {
            throw ProblemException.badRequest(
                    "invalid-audit-query",
                    "'cursor' is not one this server gave; send the 'next' of the previous page");
        }
    }
}
