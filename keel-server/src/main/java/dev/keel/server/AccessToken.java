package dev.keel.server;

import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * A bearer token the server accepts: bound to one tenant, allowed what its scopes say. Events it sends carry
 * its tenant, and it sees only its tenant's dead letters.
 *
 * @param token the secret sent as {@code Authorization: Bearer <token>}
 * @param tenant the tenant its requests act for
 * @param scopes what it may do
 */
public record AccessToken(String token, String tenant, Set<Scope> scopes) {
    /** What a token may do. */
    public enum Scope {
        /** Emit events. */
        PRODUCE,
        /** Read event streams ({@code GET /v1/stream}). */
        CONSUME,
        /** Manage dead letters and subscriptions. */
        ADMIN;

        /** Reads a scope as written in configuration ({@code produce}, {@code consume}, {@code admin}). */
        public static Scope parse(String text) {
            try {
                return valueOf(text.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown scope '" + text + "'; use produce, consume or admin", e);
            }
        }
    }

    public AccessToken {
        Objects.requireNonNull(token, "token");
        Objects.requireNonNull(tenant, "tenant");
        if (token.length() < 16) {
            throw new IllegalArgumentException("a token must be at least 16 characters; generate a random one");
        }
        if (tenant.isBlank()) {
            throw new IllegalArgumentException("a token's tenant must not be blank");
        }
        scopes = Set.copyOf(scopes);
        if (scopes.isEmpty()) {
            throw new IllegalArgumentException("the token of tenant '" + tenant + "' has no scopes");
        }
    }

    @Override
    public String toString() {
        return "AccessToken[tenant=" + tenant + ", scopes=" + scopes + "]"; // never the secret
    }
}
