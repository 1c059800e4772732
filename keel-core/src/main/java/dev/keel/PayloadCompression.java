package dev.keel;

import java.util.Objects;

/**
 * Whether and how a durable engine compresses the data of the events it stores: data of at least {@code
 * threshold} bytes (as stored: its JSON text, or its bytes) is compressed with the algorithm, and kept
 * compressed only when that makes it smaller. The envelope records the algorithm (the {@code dataencoding}
 * attribute), so records read back alike whatever the setting was when they were written, and whatever it is now.
 *
 * <p>Set it with {@code Keel.builder().payloadCompression(...)}. {@link #NONE} is the default: small events, the
 * common case, gain nothing from it, and an instance of an older version cannot read a compressed record, so turn
 * it on once every instance sharing the journal runs a version that reads them. LZ4 costs little CPU for a
 * large cut in the size of JSON documents; zstd cuts more and costs more, and needs {@code
 * com.github.luben:zstd-jni} on the class path (keel-core declares it optional). See docs/storage.md, "Codecs
 * and compression", and the figures in docs/performance.md.
 *
 * @param algorithm the algorithm; {@link Algorithm#NONE} stores data as it is
 * @param threshold the size in bytes from which data is compressed, at least 0
 */
public record PayloadCompression(Algorithm algorithm, int threshold) {

    /** The threshold of {@link #lz4()} and {@link #zstd()}: 4 KiB. */
    public static final int DEFAULT_THRESHOLD = 4 * 1024;

    /** No compression: data is stored as it is. The default. */
    public static final PayloadCompression NONE = new PayloadCompression(Algorithm.NONE, 0);

    /** A compression algorithm for stored payloads. */
    public enum Algorithm {
        /** Stored as it is. */
        NONE("none"),
        /** LZ4 (block format): fast, a moderate cut. */
        LZ4("lz4"),
        /** Zstandard at level 3: a larger cut for more CPU; needs zstd-jni on the class path. */
        ZSTD("zstd");

        private final String attribute;

        Algorithm(String attribute) {
            this.attribute = attribute;
        }

        /** The name the envelope's {@code dataencoding} attribute records. */
        public String attribute() {
            return attribute;
        }
    }

    public PayloadCompression {
        Objects.requireNonNull(algorithm, "algorithm");
        if (threshold < 0) {
            throw new IllegalArgumentException(
                    "payload compression threshold must be at least 0 bytes, but was " + threshold);
        }
    }

    /** LZ4 for data of {@link #DEFAULT_THRESHOLD} bytes or more. */
    public static PayloadCompression lz4() {
        return lz4(DEFAULT_THRESHOLD);
    }

    /** LZ4 for data of {@code threshold} bytes or more. */
    public static PayloadCompression lz4(int threshold) {
        return new PayloadCompression(Algorithm.LZ4, threshold);
    }

    /** Zstandard for data of {@link #DEFAULT_THRESHOLD} bytes or more. */
    public static PayloadCompression zstd() {
        return zstd(DEFAULT_THRESHOLD);
    }

    /** Zstandard for data of {@code threshold} bytes or more; needs {@code com.github.luben:zstd-jni}. */
    public static PayloadCompression zstd(int threshold) {
        return new PayloadCompression(Algorithm.ZSTD, threshold);
    }

    /** Whether data of {@code size} bytes is to be compressed. */
    public boolean applies(long size) {
        return algorithm != Algorithm.NONE && size >= threshold;
    }
}
