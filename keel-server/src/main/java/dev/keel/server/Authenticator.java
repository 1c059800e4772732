package dev.keel.server;

import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Finds the token of a request. Tokens are looked up by their SHA-256, so the lookup does not compare
 * secrets character by character. With no tokens configured every request is let through (open development
 * mode, which the server only allows on loopback).
 */
final class Authenticator {
    /** The request attribute holding the token a request presented, once it is known (for the audit log). */
    static final String TOKEN_ATTRIBUTE = "keel.token";
    /** The request attribute set in open development mode (for the audit log). */
    static final String OPEN_ATTRIBUTE = "keel.open";

    private final Map<String, AccessToken> byDigest = new HashMap<>();
    private final int requestsPerSecond;
    private final Map<Object, RateLimiter> limiters = new ConcurrentHashMap<>();

    /**
     * @param requestsPerSecond the most requests each token may send per second (in open mode: all requests
     *     together); 0 for no limit
     */
    Authenticator(List<AccessToken> tokens, int requestsPerSecond) {
        for (AccessToken t : tokens) {
            if (byDigest.put(digest(t.token()), t) != null) {
                throw new IllegalArgumentException("two tokens are the same (tenant '" + t.tenant() + "')");
            }
        }
        if (requestsPerSecond < 0) {
            throw new IllegalArgumentException(
                    "requestsPerSecond must be 0 (no limit) or more but was " + requestsPerSecond);
        }
        this.requestsPerSecond = requestsPerSecond;
    }

    boolean open() {
        return byDigest.isEmpty();
    }

    /** The tenant the request acts for (null in open mode); a problem when it may not do this. */
    String authorize(Context ctx, AccessToken.Scope needed) {
        AccessToken token = authenticate(ctx, needed, false);
        return token == null ? null : token.tenant();
    }

    /**
     * The token of the request (null in open mode); a problem when it may not do this.
     *
     * @param queryAllowed whether the token may come as the {@code access_token} query parameter, for
     *     browsers' EventSource, which cannot send headers
     */
    AccessToken authenticate(Context ctx, AccessToken.Scope needed, boolean queryAllowed) {
        if (open()) {
            ctx.attribute(OPEN_ATTRIBUTE, true);
            limit(ctx, "open development mode");
            return null;
        }
        String header = ctx.header("Authorization");
        String presented = null;
        if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            presented = header.substring(7).trim();
        } else if (header == null && queryAllowed) {
            presented = ctx.queryParam("access_token");
        }
        if (presented == null || presented.isEmpty()) {
            ctx.header("WWW-Authenticate", "Bearer");
            throw new ProblemException(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "send a token as 'Authorization: Bearer <token>'"
                            + (queryAllowed ? " or as the access_token query parameter" : "")
                            + (header != null ? " (the header is not a" + " bearer token)" : ""));
        }
        AccessToken token = byDigest.get(digest(presented));
        if (token == null) {
            ctx.header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
            throw new ProblemException(401, "unauthorized", "Unauthorized", "the token is not known to this server");
        }
        ctx.attribute(TOKEN_ATTRIBUTE, token);
        if (!token.scopes().contains(needed)) {
            throw new ProblemException(
                    403,
                    "forbidden",
                    "Forbidden",
                    "the token of tenant '" + token.tenant() + "' lacks the '"
                            + needed.name().toLowerCase(java.util.Locale.ROOT) + "' scope");
        }
        limit(ctx, token);
        return token;
    }

    /** Counts the request against its token's rate; a 429 problem with {@code Retry-After} over it. */
    private void limit(Context ctx, Object key) {
        if (requestsPerSecond == 0) {
            return;
        }
        RateLimiter limiter = limiters.computeIfAbsent(
                key,
                k -> RateLimiter.of(
                        "keel-token",
                        RateLimiterConfig.custom()
                                .limitForPeriod(requestsPerSecond)
                                .limitRefreshPeriod(Duration.ofSeconds(1))
                                .timeoutDuration(Duration.ZERO)
                                .build()));
        if (!limiter.acquirePermission()) {
            ctx.header("Retry-After", "1");
            throw new ProblemException(
                    429,
                    "rate-limited",
                    "Too many requests",
                    (key instanceof AccessToken t ? "the token of tenant '" + t.tenant() + "'" : "this server")
                            + " may send " + requestsPerSecond + " requests a second; retry after a second, or"
                            + " send events in batches");
        }
    }

    private static String digest(String token) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
