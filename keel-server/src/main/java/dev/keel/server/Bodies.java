package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/** Request and response bodies: request bodies read up to the size limit, answers written as JSON. */
final class Bodies {
    /** The request attribute holding the body {@link #read} returned (for the audit log). */
    static final String BODY_ATTRIBUTE = "keel.body";

    private final ObjectMapper mapper;
    private final int maxBodyBytes;

    Bodies(ObjectMapper mapper, int maxBodyBytes) {
        this.mapper = mapper;
        this.maxBodyBytes = maxBodyBytes;
    }

    ObjectMapper mapper() {
        return mapper;
    }

    /**
     * The request body, at most the size limit. A body sent with {@code Content-Encoding: gzip} is decompressed as it
     * is read, and the limit applies to what it decompresses to (and to the compressed bytes too): a small body that
     * inflates past it is refused without being inflated whole.
     *
     * @throws ProblemException 413 past the limit, 415 for an encoding other than gzip, 400 when it cannot be read or
     *     is not valid gzip
     */
    byte[] read(Context ctx) {
        byte[] body = readOnce(ctx);
        ctx.attribute(BODY_ATTRIBUTE, body);
        return body;
    }

    private byte[] readOnce(Context ctx) {
        boolean gzip = gzip(ctx.header("Content-Encoding"));
        long declared = ctx.req().getContentLengthLong();
        try (InputStream in = ctx.req().getInputStream()) {
            if (declared > maxBodyBytes) {
                drain(in);
                throw tooLarge(declared, gzip);
            }
            if (gzip) {
                return inflate(in);
            }
            byte[] body = in.readNBytes(maxBodyBytes + 1);
            if (body.length > maxBodyBytes) {
                drain(in);
                throw tooLarge(-1, false);
            }
            return body;
        } catch (IOException e) {
            throw ProblemException.badRequest("unreadable-body", "the request body could not be read: " + e);
        }
    }

    /** Whether the body is gzip; a 415 problem for an encoding this server does not read. */
    private static boolean gzip(String contentEncoding) {
        if (contentEncoding == null) {
            return false;
        }
        String encoding = contentEncoding.trim().toLowerCase(Locale.ROOT);
        if (encoding.isEmpty() || encoding.equals("identity")) {
            return false;
        }
        if (encoding.equals("gzip") || encoding.equals("x-gzip")) {
            return true;
        }
        throw new ProblemException(
                415,
                "unsupported-content-encoding",
                "Unsupported content encoding",
                "the body is sent with 'Content-Encoding: " + contentEncoding + "', which this server does not read;"
                        + " send it as gzip or uncompressed");
    }

    /** Decompresses a gzip body as it is read, up to the limit on either side. */
    private byte[] inflate(InputStream raw) throws IOException {
        Bounded compressed = new Bounded(raw, maxBodyBytes);
        byte[] body;
        try (GZIPInputStream in = new GZIPInputStream(compressed, 8 * 1024)) {
            body = in.readNBytes(maxBodyBytes + 1);
        } catch (Bounded.Exceeded e) {
            drain(raw);
            throw tooLarge(-1, true);
        } catch (ZipException | EOFException e) {
            drain(raw);
            throw ProblemException.badRequest(
                    "malformed-gzip",
                    "the body is sent with 'Content-Encoding: gzip' but is not valid gzip (" + e.getMessage()
                            + "); send the complete gzip stream, or leave the header out for an uncompressed body");
        }
        if (body.length > maxBodyBytes) {
            drain(raw);
            throw tooLarge(-1, true);
        }
        return body;
    }

    /** A stream that fails once more than its limit has been read from it. */
    private static final class Bounded extends FilterInputStream {
        private long left;

        Bounded(InputStream in, long limit) {
            super(in);
            this.left = limit;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0 && --left < 0) {
                throw new Exceeded();
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = super.read(buffer, offset, length);
            if (n > 0 && (left -= n) < 0) {
                throw new Exceeded();
            }
            return n;
        }

        /** Leaves the request's stream open: what is left of a refused body is still to be drained. */
        @Override
        public void close() {}

        /** The limit was passed. */
        static final class Exceeded extends IOException {
            Exceeded() {
                super("the body is larger than allowed");
            }
        }
    }

    /** How much of a refused body is read and dropped, so that its sender gets the answer rather than a reset. */
    static final long DRAINED = 1024 * 1024;

    /**
     * Reads what is left of a body that is refused for its size, up to {@link #DRAINED} bytes: a client still sending
     * it would otherwise meet a closed connection before it reads the 413. Past that, the connection closes.
     */
    private static void drain(InputStream in) throws IOException {
        byte[] scratch = new byte[16 * 1024];
        long left = DRAINED;
        int n;
        while (left > 0 && (n = in.read(scratch, 0, (int) Math.min(scratch.length, left))) > 0) {
            left -= n;
        }
    }

    private ProblemException tooLarge(long declared, boolean gzip) {
        return new ProblemException(
                413,
                "body-too-large",
                "Request body too large",
                (declared > 0 ? "the body is " + declared + " bytes; " : "the body is larger than allowed; ")
                        + "at most " + maxBodyBytes + " bytes are accepted in one request"
                        + (gzip ? " (compressed, and once decompressed)" : "") + ". Send smaller batches");
    }

    /** Answers with the status and the body as JSON. */
    void json(Context ctx, int status, Object body) {
        try {
            ctx.status(status).contentType("application/json").result(mapper.writeValueAsBytes(body));
        } catch (IOException e) {
            throw new IllegalStateException("could not write the response: " + e.getMessage(), e);
        }
    }

    /** Answers with the status already set on the context and the body as JSON. */
    void json(Context ctx, Object body) {
        json(ctx, ctx.statusCode(), body);
    }
}
