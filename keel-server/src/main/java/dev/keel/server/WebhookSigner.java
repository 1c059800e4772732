package dev.keel.server;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs webhook requests per the Standard Webhooks specification: {@code webhook-signature: v1,<base64>}
 * where the signature is HMAC-SHA256, keyed by the secret's bytes, over {@code <webhook-id>.<webhook-timestamp>.<body>}.
 * Secrets are written {@code whsec_} followed by base64. While a subscription's secret is being rotated, each request
 * is signed with both the new and the previous secret ({@code v1,<new> v1,<previous>}, space-separated as the
 * specification allows), so a receiver that knows either accepts it; once the previous one expires, only the new one
 * signs.
 */
final class WebhookSigner {
    /** The prefix of a signing secret. */
    static final String PREFIX = "whsec_";

    private final SecretKeySpec key;
    /** Null when there is no previous secret. */
    private final SecretKeySpec previous;
    /** The first second the previous secret no longer signs. */
    private final long previousUntilSeconds;

    WebhookSigner(String secret) {
        this(secret, null, null);
    }

    /**
     * @param previousSecret the secret being replaced; null for none
     * @param previousExpiresAt when it stops signing; null when there is none
     */
    WebhookSigner(String secret, String previousSecret, Instant previousExpiresAt) {
        this.key = new SecretKeySpec(key(secret), "HmacSHA256");
        this.previous = previousSecret == null ? null : new SecretKeySpec(key(previousSecret), "HmacSHA256");
        this.previousUntilSeconds = previousExpiresAt == null ? Long.MIN_VALUE : previousExpiresAt.getEpochSecond();
    }

    /** The signer of a subscription's deliveries: its secret, and its previous one while that is valid. */
    static WebhookSigner of(WebhookSubscription s) {
        return new WebhookSigner(s.secret(), s.previousSecret(), s.previousSecretExpiresAt());
    }

    /**
     * The key bytes of a secret.
     *
     * @throws IllegalArgumentException when it is not {@code whsec_} and base64 of 24 to 64 bytes
     */
    static byte[] key(String secret) {
        if (secret == null || !secret.startsWith(PREFIX)) {
            throw new IllegalArgumentException(
                    "'webhook.secret' must start with 'whsec_' followed by base64 of 24 to 64"
                            + " random bytes; leave it out to have one generated");
        }
        byte[] key;
        try {
            key = Base64.getDecoder().decode(secret.substring(PREFIX.length()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'webhook.secret' is not base64 after 'whsec_': " + e.getMessage(), e);
        }
        if (key.length < 24 || key.length > 64) {
            throw new IllegalArgumentException(
                    "'webhook.secret' holds " + key.length + " bytes; use 24 to 64 random bytes (32 is usual)");
        }
        return key;
    }

    /**
     * The value of the {@code webhook-signature} header: the signature by the secret, then, while the previous secret
     * is valid at the timestamp, a space and the signature by the previous one.
     */
    String sign(String messageId, long timestampSeconds, byte[] body) {
        String signature = sign(key, messageId, timestampSeconds, body);
        if (previous != null && timestampSeconds < previousUntilSeconds) {
            return signature + " " + sign(previous, messageId, timestampSeconds, body);
        }
        return signature;
    }

    private static String sign(SecretKeySpec key, String messageId, long timestampSeconds, byte[] body) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(key);
            mac.update((messageId + "." + timestampSeconds + ".").getBytes(StandardCharsets.UTF_8));
            return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(body));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
        }
    }
}
