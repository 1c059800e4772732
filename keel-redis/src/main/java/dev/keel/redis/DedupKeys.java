package dev.keel.redis;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The Redis key of a dedup key. Text is kept readable ({@code t:<key>}); a key that is not well-formed text (a
 * lone surrogate, as a JSON escape can carry) has no UTF-8 form, so it is named by the SHA-256 of its UTF-16
 * code units ({@code h:<hex>}), which keeps two such keys apart.
 */
final class DedupKeys {
    private DedupKeys() {}

    static byte[] name(String key) {
        if (wellFormed(key)) {
            return ("t:" + key).getBytes(StandardCharsets.UTF_8);
        }
        ByteBuffer units = ByteBuffer.allocate(key.length() * 2);
        for (int i = 0; i < key.length(); i++) {
            units.putChar(key.charAt(i));
        }
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(units.array());
            return ("h:" + HexFormat.of().formatHex(digest)).getBytes(StandardCharsets.US_ASCII);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    private static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }
}
