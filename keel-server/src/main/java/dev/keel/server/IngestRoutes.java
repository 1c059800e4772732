package dev.keel.server;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.KeelMeter;
import dev.keel.Receipt;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;

/**
 * {@code POST /v1/events}: CloudEvents in structured, batch and binary mode, checked against the schemas of
 * their types, answered 202 once the journal holds them. Counts what it accepted per tenant.
 */
final class IngestRoutes {
    private final Keel keel;
    private final Authenticator auth;
    private final Lifecycle lifecycle;
    private final Bodies bodies;
    private final CloudEventReader reader;
    private final EventSchemas schemas;
    private final int maxBatch;
    private final Duration emitTimeout;
    /** Per tenant ("" in open mode): events accepted, and duplicates sent. */
    private final ConcurrentHashMap<String, LongAdder[]> ingested = new ConcurrentHashMap<>();
    /** Request time by outcome ({@link KeelMeter#INGEST_REQUESTS}), registered once. */
    private final Timer accepted;

    private final Timer refused;
    private final Timer failed;

    IngestRoutes(
            Keel keel,
            Authenticator auth,
            Lifecycle lifecycle,
            Bodies bodies,
            CloudEventReader reader,
            EventSchemas schemas,
            int maxBatch,
            Duration emitTimeout) {
        this.keel = keel;
        this.auth = auth;
        this.lifecycle = lifecycle;
        this.bodies = bodies;
        this.reader = reader;
        this.schemas = schemas;
        this.maxBatch = maxBatch;
        this.emitTimeout = emitTimeout;
        this.accepted = timer(keel.meterRegistry(), "accepted");
        this.refused = timer(keel.meterRegistry(), "refused");
        this.failed = timer(keel.meterRegistry(), "failed");
    }

    private static Timer timer(MeterRegistry registry, String outcome) {
        return Timer.builder(KeelMeter.INGEST_REQUESTS.meterName())
                .description(KeelMeter.INGEST_REQUESTS.description())
                .tag("outcome", outcome)
                .register(registry);
    }

    void register(RoutesConfig routes) {
        routes.post("/v1/events", this::timed);
    }

    /** Answers the request and times it by outcome: accepted (202), refused (a 4xx problem), failed (5xx). */
    private void timed(Context ctx) {
        long start = System.nanoTime();
        Timer outcome = failed;
        try {
            post(ctx);
            outcome = accepted;
        } catch (RuntimeException e) {
            outcome = refusal(e) ? refused : failed;
            throw e;
        } finally {
            outcome.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        }
    }

    /** Whether the exception becomes a 4xx answer: the client's request was wrong, not the server. */
    private static boolean refusal(RuntimeException e) {
        return switch (e) {
            case ProblemException pe -> pe.problem().status() < 500;
            case dev.keel.InvalidEventException ignored -> true;
            case dev.keel.LoopDetectedException ignored -> true;
            case dev.keel.PayloadTooLargeException ignored -> true;
            case io.javalin.http.HttpResponseException he -> he.getStatus() < 500;
            default -> false;
        };
    }

    /** Events accepted for a tenant (null: all, in open mode) and duplicates it sent. */
    long[] counts(String tenant) {
        LongAdder[] c = ingested.get(tenant == null ? "" : tenant);
        return c == null ? new long[2] : new long[] {c[0].sum(), c[1].sum()};
    }

    private void post(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.PRODUCE);
        if (lifecycle.draining()) {
            ctx.header("Retry-After", "5");
            throw new ProblemException(
                    503,
                    "shutting-down",
                    "Shutting down",
                    "this server is shutting down and accepts no more events; send them to another instance or"
                            + " retry after it restarts");
        }
        byte[] body = bodies.read(ctx);
        String contentType = mediaType(ctx.contentType());
        List<Event<Object>> events;
        if (CloudEventReader.STRUCTURED.equals(contentType)) {
            events = List.of(reader.structured(reader.parse(body), "the event", tenant));
        } else if (CloudEventReader.BATCH.equals(contentType)) {
            events = reader.batch(reader.parse(body), maxBatch, tenant);
        } else {
            Map<String, String> headers = new HashMap<>();
            ctx.headerMap().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v));
            events = List.of(reader.binary(headers, ctx.contentType(), body, tenant));
        }
        if (!schemas.isEmpty()) {
            for (int i = 0; i < events.size(); i++) {
                schemas.check(
                        events.get(i),
                        CloudEventReader.BATCH.equals(contentType) ? "event " + i + " of the batch" : "the event");
            }
        }
        String idempotencyKey = ctx.header("Idempotency-Key");
        if (idempotencyKey != null) {
            if (CloudEventReader.BATCH.equals(contentType)) {
                throw ProblemException.badRequest(
                        "invalid-batch",
                        "the Idempotency-Key header applies to one event; in a batch, give each event an"
                                + " 'idempotencykey' attribute");
            }
            if (idempotencyKey.isBlank() || idempotencyKey.length() > CloudEventReader.MAX_IDEMPOTENCY_KEY) {
                throw ProblemException.badRequest(
                        "invalid-idempotency-key", "the Idempotency-Key header must be 1 to 200 characters");
            }
            events = List.of(
                    events.getFirst().toBuilder().idempotencyKey(idempotencyKey).build());
        }
        CompletableFuture<List<Receipt>> stored =
                events.size() == 1 ? keel.emit(events.getFirst()).thenApply(List::of) : keel.emitBatch(events);
        // Counted when stored, whether or not the answer waited for it (past the emit timeout it does not).
        LongAdder[] counts = ingested.computeIfAbsent(
                tenant == null ? "" : tenant, t -> new LongAdder[] {new LongAdder(), new LongAdder()});
        List<Receipt> receipts = await(stored.thenApply(done -> {
            long repeats = done.stream().filter(Receipt::duplicate).count();
            counts[0].add(done.size() - repeats);
            counts[1].add(repeats);
            return done;
        }));
        List<String> accepted = new ArrayList<>(receipts.size());
        List<String> duplicates = new ArrayList<>();
        for (Receipt r : receipts) {
            accepted.add(r.eventId());
            if (r.duplicate()) {
                duplicates.add(r.eventId());
            }
        }
        Map<String, Object> response = new LinkedHashMap<>();
        response.put("accepted", accepted);
        if (!duplicates.isEmpty()) {
            response.put("duplicates", duplicates);
        }
        bodies.json(ctx, 202, response);
    }

    private <T> T await(CompletableFuture<T> future) {
        try {
            return future.get(emitTimeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw new CompletionException(e.getCause());
        } catch (TimeoutException e) {
            throw new ProblemException(
                    503,
                    "journal-slow",
                    "Journal slow",
                    "the journal did not confirm the events within " + emitTimeout + "; they may be stored all the"
                            + " same. Retry with the same ids (or Idempotency-Key): a repeat is accepted once");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ProblemException(503, "shutting-down", "Shutting down", "the request was interrupted");
        }
    }

    private static String mediaType(String contentType) {
        if (contentType == null) {
            return null;
        }
        int semicolon = contentType.indexOf(';');
        return (semicolon < 0 ? contentType : contentType.substring(0, semicolon))
                .trim()
                .toLowerCase(Locale.ROOT);
    }
}
