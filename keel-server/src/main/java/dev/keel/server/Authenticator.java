package dev.keel.server;

import io.javalin.http.Context;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Finds the token of a request. Tokens are looked up by their SHA-256, so the lookup does not compare
 * secrets character by character. With no tokens configured every request is let through (open development
 * mode, which the server only allows on loopback).
 */
final class Authenticator {
    private final Map<String, AccessToken> byDigest = new HashMap<>();

    Authenticator(List<AccessToken> tokens) {
        for (AccessToken t : tokens) {
            if (byDigest.put(digest(t.token()), t) != null) {
                throw new IllegalArgumentException("two tokens are the same (tenant '" + t.tenant() + "')");
            }
        }
    }

    boolean open() {
        return byDigest.isEmpty();
    }

    /** The tenant the request acts for (null in open mode); a problem when it may not do this. */
    String authorize(Context ctx, AccessToken.Scope needed) {
        if (open()) {
            return null;
        }
        String header = ctx.header("Authorization");
        String presented = null;
        if (header != null && header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            presented = header.substring(7).trim();
        }
        if (presented == null || presented.isEmpty()) {
            ctx.header("WWW-Authenticate", "Bearer");
            throw new ProblemException(
                    401,
                    "unauthorized",
                    "Unauthorized",
                    "send a token as 'Authorization: Bearer <token>'"
                            + (header != null ? " (the header is not a" + " bearer token)" : ""));
        }
        AccessToken token = byDigest.get(digest(presented));
        if (token == null) {
            ctx.header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
            throw new ProblemException(401, "unauthorized", "Unauthorized", "the token is not known to this server");
        }
        if (!token.scopes().contains(needed)) {
            throw new ProblemException(
                    403,
                    "forbidden",
                    "Forbidden",
                    "the token of tenant '" + token.tenant() + "' lacks the '"
                            + needed.name().toLowerCase(java.util.Locale.ROOT) + "' scope");
        }
        return token.tenant();
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
