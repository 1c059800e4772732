package dev.keel.internal.payload;

import dev.keel.PayloadCompression.Algorithm;
import java.util.Arrays;

/**
 * A compressed payload as the envelope stores it (base64 in {@code data_base64}, with the algorithm in the
 * {@code dataencoding} attribute): one byte of frame version ({@value #VERSION}), one byte saying what was
 * compressed ({@link #JSON}: the JSON text of {@code data}; {@link #BYTES}: the bytes of {@code data_base64}), the
 * original length as four bytes (big-endian), then the compressed block (an LZ4 block, or a zstd frame).
 *
 * @param form what was compressed: {@link #JSON} or {@link #BYTES}
 * @param bytes the payload as it was before compression
 */
public record PayloadFrame(byte form, byte[] bytes) {
    /** The frame version this release writes and reads. */
    public static final byte VERSION = 1;
    /** The frame holds the JSON text of {@code data}. */
    public static final byte JSON = 0;
    /** The frame holds the bytes of {@code data_base64}. */
    public static final byte BYTES = 1;

    private static final int HEADER = 6;
    /** The largest payload a frame may claim: what the envelope's JSON could carry at all. */
    private static final int MAX_LENGTH = Integer.MAX_VALUE - 64;
    /** Zstandard's level: its default, the balance its authors chose. */
    private static final int ZSTD_LEVEL = 3;
    /** The smallest share of the original a compressed frame must save to be kept: 1/8 of it. */
    private static final int SAVING_DIVISOR = 8;

    /**
     * The frame of {@code src[0, length)} compressed with the algorithm, or {@code null} when compression saves
     * less than an eighth of it (then the payload is stored as it is).
     */
    public static byte[] compress(Algorithm algorithm, byte form, byte[] src, int length) {
        byte[] out =
                switch (algorithm) {
                    case LZ4 -> Lz4.compress(src, length);
                    case ZSTD -> Zstd.compress(src, length);
                    case NONE -> null;
                };
        if (out == null || out.length > length - length / SAVING_DIVISOR) {
            return null;
        }
        out[0] = VERSION;
        out[1] = form;
        out[2] = (byte) (length >>> 24);
        out[3] = (byte) (length >>> 16);
        out[4] = (byte) (length >>> 8);
        out[5] = (byte) length;
        return out;
    }

    /**
     * Checks that the algorithm can run here.
     *
     * @throws IllegalStateException for zstd without zstd-jni on the class path, saying what to add
     */
    public static void requireAvailable(Algorithm algorithm) {
        if (algorithm == Algorithm.ZSTD) {
            Zstd.require();
        }
    }

    /**
     * The payload in a frame written with the algorithm an envelope names.
     *
     * @throws IllegalArgumentException naming what is wrong: an algorithm or frame version this release does not
     *     know, a frame that does not decompress, or not to the length it records
     */
    public static PayloadFrame decompress(String encoding, byte[] frame) {
        if (frame.length < HEADER) {
            throw new IllegalArgumentException("the compressed payload is " + frame.length + " bytes, shorter than"
                    + " its " + HEADER + "-byte header");
        }
        if (frame[0] != VERSION) {
            throw new IllegalArgumentException("the compressed payload has frame version " + frame[0]
                    + ", which this release does not read (it reads " + VERSION + "); upgrade Keel");
        }
        byte form = frame[1];
        if (form != JSON && form != BYTES) {
            throw new IllegalArgumentException(
                    "the compressed payload's form is " + form + ", neither JSON (0) nor" + " bytes (1)");
        }
        int length =
                ((frame[2] & 0xFF) << 24) | ((frame[3] & 0xFF) << 16) | ((frame[4] & 0xFF) << 8) | (frame[5] & 0xFF);
        if (length < 0 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("the compressed payload claims " + length + " bytes");
        }
        byte[] bytes =
                switch (encoding) {
                    case "lz4" -> Lz4.decompress(frame, length);
                    case "zstd" -> Zstd.decompress(frame, length);
                    default ->
                        throw new IllegalArgumentException("the payload is compressed with '" + encoding
                                + "', which this release does not read (it reads lz4 and zstd); upgrade Keel");
                };
        return new PayloadFrame(form, bytes);
    }

    /** LZ4 through lz4-java: its fastest implementation (native where it loads), and its safe decompressor. */
    private static final class Lz4 {
        private static final net.jpountz.lz4.LZ4Factory FACTORY = net.jpountz.lz4.LZ4Factory.fastestInstance();
        private static final net.jpountz.lz4.LZ4Compressor COMPRESSOR = FACTORY.fastCompressor();
        private static final net.jpountz.lz4.LZ4SafeDecompressor DECOMPRESSOR = FACTORY.safeDecompressor();

        static byte[] compress(byte[] src, int length) {
            byte[] out = new byte[HEADER + COMPRESSOR.maxCompressedLength(length)];
            int n = COMPRESSOR.compress(src, 0, length, out, HEADER, out.length - HEADER);
            return Arrays.copyOf(out, HEADER + n);
        }

        static byte[] decompress(byte[] frame, int length) {
            // An LZ4 block expands at most about 255 times: a larger claim is damage, not data.
            if ((long) length > (long) (frame.length - HEADER) * 255 + 16) {
                throw new IllegalArgumentException("the LZ4 payload of " + (frame.length - HEADER) + " bytes claims "
                        + length + " bytes, more than LZ4 can expand to");
            }
            byte[] out = new byte[length];
            int n;
            try {
                n = DECOMPRESSOR.decompress(frame, HEADER, frame.length - HEADER, out, 0, length);
            } catch (net.jpountz.lz4.LZ4Exception e) {
                throw new IllegalArgumentException("the LZ4 payload does not decompress: " + e.getMessage(), e);
            }
            if (n != length) {
                throw new IllegalArgumentException(
                        "the LZ4 payload decompressed to " + n + " bytes, not the " + length + " it records");
            }
            return out;
        }
    }

    /** Zstandard through zstd-jni, an optional dependency: this class is loaded only when zstd is used. */
    private static final class Zstd {
        private static final boolean PRESENT = present();

        private static boolean present() {
            try {
                Class.forName("com.github.luben.zstd.Zstd", false, PayloadFrame.class.getClassLoader());
                return true;
            } catch (ClassNotFoundException e) {
                return false;
            }
        }

        private static void require() {
            if (!PRESENT) {
                throw new IllegalStateException("zstd compression needs com.github.luben:zstd-jni on the class path"
                        + " (keel-core declares it optional): add it, or use PayloadCompression.lz4()");
            }
        }

        static byte[] compress(byte[] src, int length) {
            require();
            byte[] out = new byte[HEADER + (int) com.github.luben.zstd.Zstd.compressBound(length)];
            long n = com.github.luben.zstd.Zstd.compressByteArray(
                    out, HEADER, out.length - HEADER, src, 0, length, ZSTD_LEVEL);
            if (com.github.luben.zstd.Zstd.isError(n)) {
                throw new IllegalStateException(
                        "zstd could not compress a payload: " + com.github.luben.zstd.Zstd.getErrorName(n));
            }
            return Arrays.copyOf(out, HEADER + (int) n);
        }

        static byte[] decompress(byte[] frame, int length) {
            require();
            byte[] src = Arrays.copyOfRange(frame, HEADER, frame.length);
            long claimed = com.github.luben.zstd.Zstd.getFrameContentSize(src);
            if (claimed != length) {
                throw new IllegalArgumentException("the zstd payload's frame says " + claimed
                        + " bytes (negative: unreadable), not the " + length + " the envelope records");
            }
            byte[] out = new byte[length];
            long n = com.github.luben.zstd.Zstd.decompressByteArray(out, 0, length, src, 0, src.length);
            if (com.github.luben.zstd.Zstd.isError(n)) {
                throw new IllegalArgumentException(
                        "the zstd payload does not decompress: " + com.github.luben.zstd.Zstd.getErrorName(n));
            }
            if (n != length) {
                throw new IllegalArgumentException(
                        "the zstd payload decompressed to " + n + " bytes, not the " + length + " it records");
            }
            return out;
        }
    }
}
