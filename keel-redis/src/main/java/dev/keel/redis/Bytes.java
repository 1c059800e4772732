package dev.keel.redis;

import java.nio.charset.StandardCharsets;

/** Values as the bytes Redis stores, and back. */
final class Bytes {
    private Bytes() {}

    static byte[] of(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] of(long value) {
        return Long.toString(value).getBytes(StandardCharsets.US_ASCII);
    }

    static String text(byte[] value) {
        return value == null ? null : new String(value, StandardCharsets.UTF_8);
    }

    /** A number Redis holds, or the default when it holds none. */
    static long number(byte[] value, long otherwise) {
        return value == null ? otherwise : Long.parseLong(new String(value, StandardCharsets.US_ASCII));
    }
}
