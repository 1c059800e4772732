package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.IntakeFullException;
import dev.keel.InvalidEventException;
import dev.keel.KeelClosedException;
import dev.keel.LoopDetectedException;
import dev.keel.PayloadTooLargeException;
import dev.keel.spi.JournalException;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where failures become answers: every exception a route throws becomes an RFC 9457 problem
 * that says what was wrong and what to do, with {@code Retry-After} where retrying helps. A failure after a
 * response has begun (an event stream ending while its client leaves) is logged at debug and answered with
 * nothing.
 */
final class ProblemMapper {
    private static final Logger log = LoggerFactory.getLogger(ProblemMapper.class);

    private final ObjectMapper mapper;

    ProblemMapper(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    /** The exception handler of every route. */
    void handle(Exception e, Context ctx) {
        if (ctx.res().isCommitted()) {
            log.debug("{} {} failed after its response began", ctx.method(), ctx.path(), e);
            return;
        }
        write(ctx, problem(e, ctx));
    }

    private Problem problem(Exception e, Context ctx) {
        return switch (e) {
            case ProblemException pe -> {
                if (pe.problem().status() == 503 && ctx.res().getHeader("Retry-After") == null) {
                    ctx.header("Retry-After", "1");
                }
                yield pe.problem();
            }
            case InvalidEventException ie ->
                new Problem("/problems/invalid-event", "Bad request", 400, ie.getMessage());
            case LoopDetectedException le ->
                new Problem("/problems/loop-detected", "Bad request", 400, le.getMessage());
            case PayloadTooLargeException pe ->
                new Problem("/problems/payload-too-large", "Payload too large", 413, pe.getMessage());
            case IntakeFullException ie -> {
                ctx.header("Retry-After", "1");
                yield new Problem(
                        "/problems/intake-full", "Too many events", 503, ie.getMessage() + "; retry after a second");
            }
            case KeelClosedException ce -> {
                ctx.header("Retry-After", "5");
                yield new Problem("/problems/shutting-down", "Shutting down", 503, ce.getMessage());
            }
            case JournalException je -> {
                ctx.header("Retry-After", "1");
                yield new Problem(
                        "/problems/journal-unavailable",
                        "Journal unavailable",
                        503,
                        "the events were not stored: " + je.getMessage());
            }
            case io.javalin.http.NotFoundResponse nf -> notFound(ctx);
            case HttpResponseException he ->
                new Problem("/problems/http-" + he.getStatus(), he.getMessage(), he.getStatus(), he.getMessage());
            default -> {
                log.error("{} {} failed", ctx.method(), ctx.path(), e);
                yield new Problem(
                        "/problems/internal-error",
                        "Internal error",
                        500,
                        "the server failed to handle the request ("
                                + e.getClass().getSimpleName()
                                + "); it is logged. Nothing was stored if no 202 was sent");
            }
        };
    }

    /** A path outside the API. */
    static Problem notFound(Context ctx) {
        return new Problem(
                "/problems/not-found",
                "Not found",
                404,
                ctx.method() + " " + ctx.path() + " is not part of the API; see docs/server.md");
    }

    /** Writes a problem as the answer. */
    void write(Context ctx, Problem p) {
        try {
            ctx.status(p.status()).contentType(Problem.MEDIA_TYPE).result(mapper.writeValueAsBytes(p.body(ctx.path())));
        } catch (IOException e) {
            ctx.status(p.status()).result(p.detail());
        }
    }
}
