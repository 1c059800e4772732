package dev.keel.kafka;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Record keys of Keel's own compacted topics: a kind and its parts, joined by the unit separator (U+001F), so
 * that compaction keeps the last record of each thing and a tombstone can say what it removes.
 */
final class Keys {
    static final char SEPARATOR = '\u001f';

    private Keys() {}

    static byte[] of(String kind, String... parts) {
        StringBuilder b = new StringBuilder(kind);
        for (String p : parts) {
            b.append(SEPARATOR).append(p);
        }
        return b.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** The kind and parts of a key. */
    static List<String> parse(byte[] key) {
        if (key == null) {
            return List.of("");
        }
        return Arrays.asList(new String(key, StandardCharsets.UTF_8).split(String.valueOf(SEPARATOR), -1));
    }
}
