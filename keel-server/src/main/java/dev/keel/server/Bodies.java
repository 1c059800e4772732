package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.InputStream;

/** Request and response bodies: request bodies read up to the size limit, answers written as JSON. */
final class Bodies {
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
     * The request body, at most the size limit.
     *
     * @throws ProblemException 413 past the limit, 400 when it cannot be read
     */
    byte[] read(Context ctx) {
        long declared = ctx.req().getContentLengthLong();
        try (InputStream in = ctx.req().getInputStream()) {
            if (declared > maxBodyBytes) {
                drain(in);
                throw tooLarge(declared);
            }
            byte[] body = in.readNBytes(maxBodyBytes + 1);
            if (body.length > maxBodyBytes) {
                drain(in);
                throw tooLarge(-1);
            }
            return body;
        } catch (IOException e) {
            throw ProblemException.badRequest("unreadable-body", "the request body could not be read: " + e);
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

    private ProblemException tooLarge(long declared) {
        return new ProblemException(
                413,
                "body-too-large",
                "Request body too large",
                (declared > 0 ? "the body is " + declared + " bytes; " : "the body is larger than allowed; ")
                        + "at most " + maxBodyBytes + " bytes are accepted in one request. Send smaller batches");
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
