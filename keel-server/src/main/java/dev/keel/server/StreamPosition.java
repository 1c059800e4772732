package dev.keel.server;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Base64;

/**
 * Where an event stream stands: for every lane, the sequence of the last event it has passed. Sent as each
 * frame's {@code id:} and read back from {@code Last-Event-ID}, so a stream resumes from the journal with
 * no gap and no duplicate. The text form is opaque to clients: {@code 1.} then base64url of the lane count,
 * the smallest sequence and each lane's distance from it, as unsigned varints.
 */
final class StreamPosition {
    private static final String VERSION = "1.";

    private final long[] sequences;

    private StreamPosition(long[] sequences) {
        this.sequences = sequences;
    }

    static StreamPosition of(long[] sequences) {
        return new StreamPosition(sequences.clone());
    }

    long get(int lane) {
        return sequences[lane];
    }

    int lanes() {
        return sequences.length;
    }

    long[] toArray() {
        return sequences.clone();
    }

    /**
     * Reads a resume token.
     *
     * @throws IllegalArgumentException when it is not one, or was made for another number of lanes
     */
    static StreamPosition parse(String token, int lanes) {
        if (token == null || !token.startsWith(VERSION) || token.length() > 16_384) {
            throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token)
                    + "' is not a resume token of this server; send the id of the last event received, as it was sent");
        }
        byte[] bytes;
        try {
            bytes = Base64.getUrlDecoder().decode(token.substring(VERSION.length()));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token) + "' is not a resume token", e);
        }
        int[] at = {0};
        long count = varint(bytes, at, token);
        if (count != lanes) {
            throw new IllegalArgumentException("Last-Event-ID was made for a log of " + count
                    + " lanes, but this one has " + lanes + "; start a new stream without Last-Event-ID");
        }
        long min = varint(bytes, at, token);
        long[] sequences = new long[lanes];
        for (int i = 0; i < lanes; i++) {
            sequences[i] = min + varint(bytes, at, token);
            if (sequences[i] < 0) {
                throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token) + "' is not a resume token");
            }
        }
        if (at[0] != bytes.length) {
            throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token) + "' is not a resume token");
        }
        return new StreamPosition(sequences);
    }

    /** The token of this position. */
    static String format(long[] sequences) {
        long min = Arrays.stream(sequences).min().orElse(0);
        ByteArrayOutputStream out = new ByteArrayOutputStream(8 + sequences.length * 2);
        writeVarint(out, sequences.length);
        writeVarint(out, min);
        for (long s : sequences) {
            writeVarint(out, s - min);
        }
        return VERSION + Base64.getUrlEncoder().withoutPadding().encodeToString(out.toByteArray());
    }

    @Override
    public String toString() {
        return format(sequences);
    }

    private static void writeVarint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    private static long varint(byte[] bytes, int[] at, String token) {
        long v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (at[0] >= bytes.length) {
                throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token) + "' is cut short");
            }
            byte b = bytes[at[0]++];
            v |= (long) (b & 0x7F) << shift;
            if ((b & 0x80) == 0) {
                return v;
            }
        }
        throw new IllegalArgumentException("Last-Event-ID '" + abbreviate(token) + "' is not a resume token");
    }

    private static String abbreviate(String s) {
        if (s == null) {
            return "";
        }
        return s.length() > 40 ? s.substring(0, 40) + "…" : s;
    }
}
