package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.EventIds;
import dev.keel.spi.AuditTrail;
import dev.keel.spi.AuditTrail.AuditEntry;
import io.javalin.http.Context;
import io.javalin.http.Handler;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records every administrative action in the journal's audit trail: who (a token's fingerprint and tenant, or
 * {@code open-mode}), what (an action, its target and its parameters without secrets), when, from where, and the
 * answer's status, refusals included. Admin routes wrap their handlers with {@link #recorded}; the wrapper answers
 * a failed action's problem itself so that it can record the status sent.
 *
 * <p>A failed audit write never fails the action it records: it is logged as an error and counted in
 * {@code keel.audit.failures}. Requests without a known token are not recorded: they are refused before they act,
 * and recording them would let anyone fill the trail. Entries older than the retention are pruned at most once an
 * hour, on a virtual thread after a write.
 */
final class AuditLog {
    /** The actor of every entry in open development mode, where requests carry no token. */
    static final String OPEN_MODE = "open-mode";

    private static final Logger log = LoggerFactory.getLogger(AuditLog.class);
    private static final Duration PRUNE_EVERY = Duration.ofHours(1);
    private static final int MAX_PARAMETERS = 2048;

    private final Optional<AuditTrail> trail;
    private final ProblemMapper problems;
    private final ObjectMapper mapper;
    private final Clock clock;
    private final Duration retention;
    private final boolean trustProxy;
    private final Counter failures;
    private final AtomicReference<Instant> lastPrune = new AtomicReference<>(Instant.MIN);

    AuditLog(
            Optional<AuditTrail> trail,
            ProblemMapper problems,
            ObjectMapper mapper,
            MeterRegistry registry,
            Clock clock,
            Duration retention,
            boolean trustProxy) {
        this.trail = trail;
        this.problems = problems;
        this.mapper = mapper;
        this.clock = clock;
        this.retention = retention;
        this.trustProxy = trustProxy;
        this.failures = Counter.builder("keel.audit.failures")
                .description("administrative actions whose audit entry could not be written")
                .register(registry);
        if (trail.isEmpty()) {
            log.warn("the journal keeps no audit trail: administrative actions are not recorded");
        }
    }

    /** The trail, when the journal keeps one. */
    Optional<AuditTrail> trail() {
        return trail;
    }

    /** A handler that runs {@code handler} and records it as {@code action} on the path parameter {@code target}. */
    Handler recorded(String action, String target, Handler handler) {
        return recorded(ctx -> action, target == null ? ctx -> null : ctx -> ctx.pathParam(target), handler);
    }

    /**
     * A handler that runs {@code handler} and records it; {@code action} and {@code target} name it once answered
     * ({@code action} may read the status, as a create and a replace share a route).
     */
    Handler recorded(Function<Context, String> action, Function<Context, String> target, Handler handler) {
        return ctx -> {
            try {
                handler.handle(ctx);
            } catch (Exception e) {
                problems.handle(e, ctx);
            }
            record(ctx, action.apply(ctx), target.apply(ctx));
        };
    }

    private void record(Context ctx, String action, String target) {
        AccessToken token = ctx.attribute(Authenticator.TOKEN_ATTRIBUTE);
        boolean open = Boolean.TRUE.equals(ctx.attribute(Authenticator.OPEN_ATTRIBUTE));
        if (trail.isEmpty() || (token == null && !open)) {
            return;
        }
        Instant now = clock.instant();
        try {
            trail.get()
                    .append(new AuditEntry(
                            EventIds.next(now.toEpochMilli()),
                            now,
                            token == null ? OPEN_MODE : actor(token),
                            token == null ? null : token.tenant(),
                            action,
                            target,
                            parameters(ctx),
                            remoteAddress(ctx),
                            ctx.statusCode()));
        } catch (RuntimeException e) {
            failures.increment();
            log.error("the audit entry of {} {} ({}) could not be written", action, target, ctx.statusCode(), e);
            return;
        }
        pruneNowAndThen(now);
    }

    /** A token as entries name it: the first 12 hex digits of its SHA-256, never the token. */
    static String actor(AccessToken token) {
        try {
            byte[] digest =
                    MessageDigest.getInstance("SHA-256").digest(token.token().getBytes(StandardCharsets.UTF_8));
            return "token:" + HexFormat.of().formatHex(digest, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** The client's address: the connection's, or the last {@code X-Forwarded-For} hop behind a trusted proxy. */
    private String remoteAddress(Context ctx) {
        String direct = ctx.req().getRemoteAddr();
        String forwarded = trustProxy ? ctx.header("X-Forwarded-For") : null;
        if (forwarded == null || forwarded.isBlank()) {
            return direct;
        }
        String[] hops = forwarded.split(",");
        String last = hops[hops.length - 1].trim();
        return last.isEmpty() ? direct : last;
    }

    /** The query parameters and the JSON body the action read, without any field that may hold a secret. */
    private String parameters(Context ctx) {
        ObjectNode out = mapper.createObjectNode();
        for (Map.Entry<String, java.util.List<String>> q : ctx.queryParamMap().entrySet()) {
            if (!secretName(q.getKey())) {
                out.put(q.getKey(), String.join(",", q.getValue()));
            }
        }
        byte[] body = ctx.attribute(Bodies.BODY_ATTRIBUTE);
        if (body != null && body.length > 0) {
            try {
                JsonNode json = mapper.readTree(body);
                strip(json);
                out.set("body", json);
            } catch (java.io.IOException | RuntimeException e) {
                out.put("body", "(not JSON, " + body.length + " bytes)");
            }
        }
        String text = out.toString();
        if (text.length() <= MAX_PARAMETERS) {
            return text;
        }
        ObjectNode cut = mapper.createObjectNode();
        cut.put("truncated", true);
        var names = cut.putArray("fields");
        out.fieldNames().forEachRemaining(names::add);
        if (out.get("body") instanceof ObjectNode b) {
            var bodyNames = cut.putArray("bodyFields");
            b.fieldNames().forEachRemaining(bodyNames::add);
        }
        return cut.toString();
    }

    /** Removes every field whose name says it may hold a secret, at any depth. */
    private static void strip(JsonNode node) {
        if (node instanceof ObjectNode o) {
            for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
                if (secretName(it.next())) {
                    it.remove();
                }
            }
            o.forEach(AuditLog::strip);
        } else if (node.isArray()) {
            node.forEach(AuditLog::strip);
        }
    }

    private static boolean secretName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.contains("secret") || n.contains("token") || n.contains("password") || n.contains("authorization");
    }

    private void pruneNowAndThen(Instant now) {
        Instant last = lastPrune.get();
        if (now.isBefore(last.plus(PRUNE_EVERY)) || !lastPrune.compareAndSet(last, now)) {
            return;
        }
        Thread.ofVirtual().name("keel-audit-prune").start(() -> {
            try {
                trail.get().prune(now.minus(retention));
            } catch (RuntimeException e) {
                log.warn("pruning the audit trail failed; it is tried again in an hour", e);
            }
        });
    }
}
