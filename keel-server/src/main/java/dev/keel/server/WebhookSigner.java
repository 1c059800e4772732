package dev.keel.server;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs webhook requests per the Standard Webhooks specification: {@code webhook-signature: v1,<base64>}
 * where the signature is HMAC-SHA256, keyed by the secret's bytes, over {@code <webhook-id>.<webhook-timestamp>.<body>}.
 * Secrets are written {@code whsec_} followed by base64.
 */
final class WebhookSigner {
    /** The prefix of a signing secret. */
    static final String PREFIX = "whsec_";

    private final SecretKeySpec key;

    WebhookSigner(String secret) {
        this.key = new SecretKeySpec(key(secret), "HmacSHA256");
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

    /** The value of the {@code webhook-signature} header. */
    String sign(String messageId, long timestampSeconds, byte[] body) {
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
