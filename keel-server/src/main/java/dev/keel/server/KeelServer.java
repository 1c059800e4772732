package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.keel.Event;
import dev.keel.IntakeFullException;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.LoopDetectedException;
import dev.keel.PayloadTooLargeException;
import dev.keel.Receipt;
import dev.keel.spi.JournalException;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keel's HTTP gateway: events in over HTTP ({@code POST /v1/events}), the runtime's state out ({@code
 * /v1/stats}, {@code /health/*}, {@code /metrics}). Errors are RFC 9457 problems. Built on Javalin (Jetty 12),
 * with requests served by a pool of platform threads of their own, apart from the virtual threads deliveries
 * run on.
 *
 * <pre>{@code
 * KeelServer server = KeelServer.builder(keel).port(8080).subscriptionsFile(dir.resolve("subscriptions.json")).build();
 * keel.start(); // after build(): its webhook subscriptions are registered, so pruning waits for their cursors
 * server.start();
 * }</pre>
 *
 * <p>Build the server before starting the runtime: a runtime prunes what its registered subscriptions have
 * passed, and a webhook subscription that is not registered yet (it is, once the server is built) would not
 * hold back the events it has still to deliver.
 */
public final class KeelServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KeelServer.class);

    /** The default port. */
    public static final int DEFAULT_PORT = 8080;
    /** The default largest request body: 1 MiB. */
    public static final int DEFAULT_MAX_BODY_BYTES = 1 << 20;

    private static final int ACCEPT_QUEUE = 4_096;
    /** Platform threads serving requests (event streams hold none once they are handed to the fan-out). */
    private static final int MAX_REQUEST_THREADS = 256;

    /** The default largest batch: 1,000 events. */
    public static final int DEFAULT_MAX_BATCH = 1_000;

    private final Keel keel;
    private final PrometheusMeterRegistry prometheus;
    private final String host;
    private final int port;
    private final int maxBodyBytes;
    private final int maxBatch;
    private final Duration drainTimeout;
    private final Duration emitTimeout;
    private final Duration stuckAfter;
    private final ObjectMapper mapper;
    private final CloudEventReader reader;
    private final Authenticator auth;
    private final WebhookSubscriptions webhooks;
    private final EventStreams streams;
    private final EventSchemas schemas;
    /** Per tenant ("" in open mode): events this server accepted, and duplicates it was sent. */
    private final java.util.concurrent.ConcurrentHashMap<String, LongAdder[]> ingested =
            new java.util.concurrent.ConcurrentHashMap<>();

    private final Javalin app;
    private volatile boolean started;
    private volatile boolean draining;

    private KeelServer(Builder b) {
        this.keel = b.keel;
        this.prometheus = b.prometheus;
        this.host = b.host;
        this.port = b.port;
        this.maxBodyBytes = b.maxBodyBytes;
        this.maxBatch = b.maxBatch;
        this.drainTimeout = b.drainTimeout;
        this.emitTimeout = b.emitTimeout;
        this.stuckAfter = b.stuckAfter;
        this.mapper = new ObjectMapper()
                .registerModule(new JavaTimeModule())
                .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(com.fasterxml.jackson.databind.DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
        this.reader = new CloudEventReader(mapper);
        this.auth = new Authenticator(b.tokens, b.requestsPerSecond);
        Map<String, com.fasterxml.jackson.databind.JsonNode> schemaNodes = new LinkedHashMap<>();
        b.schemas.forEach((type, text) -> {
            try {
                schemaNodes.put(type, mapper.readTree(text));
            } catch (IOException e) {
                throw new IllegalArgumentException("the schema of '" + type + "' is not JSON: " + e.getMessage(), e);
            }
        });
        this.schemas = new EventSchemas(schemaNodes, mapper);
        this.streams = new EventStreams(
                keel,
                mapper,
                new EventStreams.Settings(
                        b.streamHeartbeat,
                        b.streamBuffer,
                        b.streamsPerToken,
                        EventStreams.Settings.DEFAULT.poll(),
                        EventStreams.Settings.DEFAULT.reconnect()));
        if (auth.open() && !loopback(host)) {
            throw new IllegalArgumentException("no auth tokens are configured, so the server listens on loopback only,"
                    + " not on '" + host + "'; configure tokens (auth.tokens) to listen there");
        }
        this.webhooks = new WebhookSubscriptions(
                keel,
                mapper,
                b.subscriptionsFile,
                java.time.Clock.systemUTC(),
                b.allowPrivateWebhookTargets != null ? b.allowPrivateWebhookTargets : auth.open());
        List<WebhookSubscriptions.Definition> declared = new ArrayList<>();
        b.declared.forEach(d ->
                declared.add(new WebhookSubscriptions.Definition(d.name(), d.tenant(), mapper.valueToTree(d.spec()))));
        try {
            webhooks.start(declared);
        } catch (RuntimeException e) {
            webhooks.close();
            throw e;
        }
        this.app = Javalin.create(config -> {
            config.jetty.host = host;
            config.jetty.port = port;
            config.jetty.modifyServer(server -> server.setErrorHandler(new ProblemErrorHandler()));
            config.jetty.addConnector((server, http) -> {
                org.eclipse.jetty.server.ServerConnector connector = new org.eclipse.jetty.server.ServerConnector(
                        server, new org.eclipse.jetty.server.HttpConnectionFactory(http));
                connector.setHost(host);
                connector.setPort(port);
                // Thousands of event streams may connect at once (after a restart, say): a short accept queue
                // drops their connections, and each waits a second or more to try again.
                connector.setAcceptQueueSize(ACCEPT_QUEUE);
                // Idle streams send a keep-alive each heartbeat: the connection must outlive a few of them.
                connector.setIdleTimeout(Math.max(30_000, 3 * b.streamHeartbeat.toMillis()));
                return connector;
            });
            // Requests on platform threads of their own: whatever deliveries do on the virtual threads' carriers,
            // ingest, health and admin are scheduled by the operating system beside them.
            config.concurrency.useVirtualThreads = false;
            org.eclipse.jetty.util.thread.QueuedThreadPool requests =
                    new org.eclipse.jetty.util.thread.QueuedThreadPool(MAX_REQUEST_THREADS, 8, 60_000);
            requests.setName("keel-http");
            requests.setDaemon(true);
            config.jetty.threadPool = requests;
            config.startup.showJavalinBanner = false;
            // Bodies are read by the handlers, which answer an oversized one with a problem of their own.
            config.http.maxRequestSize = Long.MAX_VALUE;
            config.routes.post("/v1/events", this::postEvents);
            config.routes.get("/v1/stream", this::stream);
            config.routes.get("/v1/stats", ctx -> json(ctx, 200, stats(auth.authorize(ctx, AccessToken.Scope.ADMIN))));
            config.routes.get("/", ctx -> dashboard(ctx));
            config.routes.get("/health/live", ctx -> json(ctx, 200, Map.of("status", "UP")));
            config.routes.get("/health/ready", this::ready);
            config.routes.get("/health/startup", this::startup);
            config.routes.get("/metrics", this::metrics);
            new DeadLetterRoutes(keel, mapper, auth, this::body, (ctx, body) -> json(ctx, ctx.statusCode(), body))
                    .register(config.routes);
            new SubscriptionRoutes(webhooks, mapper, auth, this::body, (ctx, body) -> json(ctx, ctx.statusCode(), body))
                    .register(config.routes);
            config.routes.exception(Exception.class, this::failed);
            // Paths outside the API: Javalin answers those without reaching the exception handlers.
            config.routes.error(404, "*", ctx -> {
                String type = ctx.res().getContentType();
                if (type == null || !type.startsWith(Problem.MEDIA_TYPE)) {
                    problem(ctx, notFound(ctx));
                }
            });
        });
    }

    /** A builder for a server in front of the runtime. */
    public static Builder builder(Keel keel) {
        return new Builder(keel);
    }

    /** Starts listening; returns once the port is bound. */
    public KeelServer start() {
        app.start();
        started = true;
        return this;
    }

    /** The port the server listens on (the bound one when configured as 0). */
    public int port() {
        return app.port();
    }

    /** The host the server is bound to. */
    public String host() {
        return host;
    }

    /**
     * Stops accepting events (new ones are answered 503 with {@code Retry-After}), lets the runtime drain
     * in-flight deliveries up to the drain timeout, then stops listening. The runtime is closed too.
     */
    @Override
    public synchronized void close() {
        if (draining) {
            return; // closed, or being closed by the thread that holds this lock
        }
        draining = true;
        try {
            streams.close();
            keel.close(drainTimeout);
        } finally {
            try {
                app.stop();
            } finally {
                webhooks.close();
            }
        }
    }

    // ---- routes ----

    private void postEvents(Context ctx) {
        String tenant = auth.authorize(ctx, AccessToken.Scope.PRODUCE);
        if (draining) {
            ctx.header("Retry-After", "5");
            throw new ProblemException(
                    503,
                    "shutting-down",
                    "Shutting down",
                    "this server is shutting down and accepts no more events; send them to another instance or"
                            + " retry after it restarts");
        }
        byte[] body = body(ctx);
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
        java.util.concurrent.CompletableFuture<List<Receipt>> stored =
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
        json(ctx, 202, response);
    }

    private void stream(Context ctx) throws IOException {
        AccessToken token = auth.authenticate(ctx, AccessToken.Scope.CONSUME, true);
        String tenant = token == null ? null : token.tenant();
        List<dev.keel.TypePattern> types = new ArrayList<>();
        for (String param : ctx.queryParams("types")) {
            for (String p : param.split(",")) {
                if (p.isBlank()) {
                    continue;
                }
                try {
                    types.add(dev.keel.TypePattern.of(p.trim()));
                } catch (IllegalArgumentException e) {
                    throw ProblemException.badRequest("invalid-types", e.getMessage());
                }
            }
        }
        if (types.isEmpty()) {
            types.add(dev.keel.TypePattern.of("**"));
        }
        String resume = ctx.header("Last-Event-ID");
        if (resume == null) {
            resume = ctx.queryParam("lastEventId");
        }
        StreamPosition from = null;
        if (resume != null && !resume.isBlank()) {
            try {
                from = StreamPosition.parse(resume.trim(), keel.lanes());
            } catch (IllegalArgumentException e) {
                throw ProblemException.badRequest("invalid-last-event-id", e.getMessage());
            }
        }
        streams.serve(ctx, token, tenant, types, from);
    }

    /**
     * The runtime's stats as one tenant may see them: its subscriptions only, and what this server ingested
     * for it (in open mode, the whole runtime).
     */
    private Map<String, Object> stats(String tenant) {
        dev.keel.KeelStats all = keel.stats();
        Map<String, dev.keel.Subscription> byName = new HashMap<>();
        keel.subscriptions().forEach(s -> byName.put(s.name(), s));
        Map<String, WebhookSubscription> webhooksByName = new HashMap<>();
        webhooks.list(tenant).forEach(w -> webhooksByName.put(w.deliveryName(), w));
        List<Map<String, Object>> subs = new ArrayList<>();
        for (dev.keel.SubscriptionStats s : all.subscriptions()) {
            dev.keel.Subscription sub = byName.get(s.name());
            if (sub == null || sub.ephemeral() || (tenant != null && !tenant.equals(sub.tenant()))) {
                continue;
            }
            Map<String, Object> m = mapper.convertValue(s, new com.fasterxml.jackson.core.type.TypeReference<>() {});
            if (tenant != null) {
                // Lanes are shared by every tenant: a lane's lag would show other tenants' traffic.
                m.put("lag", null);
                m.put("lagByLane", null);
            }
            WebhookSubscription w = webhooksByName.get(s.name());
            if (w != null) {
                m.put("webhook", w.name());
                m.put("circuit", webhooks.circuit(tenant, w.name()));
            }
            subs.add(m);
        }
        LongAdder[] counts = ingested.get(tenant == null ? "" : tenant);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tenant", tenant);
        out.put("emitted", tenant == null ? all.emitted() : counts == null ? 0 : counts[0].sum());
        out.put("duplicates", tenant == null ? all.duplicates() : counts == null ? 0 : counts[1].sum());
        out.put("lanes", all.lanes());
        out.put("streams", streams.open(tenant));
        out.put("subscriptions", subs);
        return out;
    }

    private void dashboard(Context ctx) throws IOException {
        try (InputStream in = KeelServer.class.getResourceAsStream("/dev/keel/server/dashboard.html")) {
            if (in == null) {
                throw new IllegalStateException("the dashboard page is missing from the jar");
            }
            ctx.contentType("text/html; charset=utf-8")
                    .header("Cache-Control", "no-cache")
                    .header(
                            "Content-Security-Policy",
                            "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
                    .header("X-Frame-Options", "DENY")
                    .result(in.readAllBytes());
        }
    }

    private void ready(Context ctx) {
        if (!started || draining) {
            throw new ProblemException(
                    503, "not-ready", "Not ready", draining ? "the server is shutting down" : "the server is starting");
        }
        try {
            keel.logAccess().ping();
        } catch (RuntimeException e) {
            throw new ProblemException(
                    503, "not-ready", "Not ready", "journal: the journal cannot be read: " + e.getMessage());
        }
        List<Keel.StuckLane> stuck = keel.stuckLanes(stuckAfter);
        if (!stuck.isEmpty()) {
            throw new ProblemException(
                    503,
                    "not-ready",
                    "Not ready",
                    "lanes: " + stuck.size() + " delivery(ies) running longer than " + stuckAfter + ": "
                            + stuck.stream()
                                    .limit(5)
                                    .map(l -> "subscription '" + l.subscription() + "' lane " + l.lane() + " for "
                                            + l.running().toSeconds() + " s")
                                    .collect(java.util.stream.Collectors.joining(", ")));
        }
        json(ctx, 200, Map.of("status", "UP"));
    }

    private void startup(Context ctx) {
        if (!started) {
            throw new ProblemException(503, "starting", "Starting", "the server is starting");
        }
        json(ctx, 200, Map.of("status", "UP"));
    }

    private void metrics(Context ctx) {
        if (prometheus == null) {
            throw new ProblemException(
                    404, "metrics-disabled", "Metrics disabled", "this server was built without a Prometheus registry");
        }
        ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(prometheus.scrape());
    }

    // ---- helpers ----

    private byte[] body(Context ctx) {
        long declared = ctx.req().getContentLengthLong();
        if (declared > maxBodyBytes) {
            throw tooLarge(declared);
        }
        try (InputStream in = ctx.req().getInputStream()) {
            byte[] body = in.readNBytes(maxBodyBytes + 1);
            if (body.length > maxBodyBytes) {
                throw tooLarge(-1);
            }
            return body;
        } catch (IOException e) {
            throw ProblemException.badRequest("unreadable-body", "the request body could not be read: " + e);
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

    /** Whether the address is this machine only. */
    static boolean loopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("cannot resolve the host '" + host + "': " + e.getMessage(), e);
        }
    }

    /** Whether requests need a token (false in open development mode). */
    public boolean requiresTokens() {
        return !auth.open();
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

    private <T> T await(java.util.concurrent.CompletableFuture<T> future) {
        try {
            return future.get(emitTimeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw new CompletionException(e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
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

    private void failed(Exception e, Context ctx) {
        if (ctx.res().isCommitted()) {
            // Nothing can be answered once the response is under way, and what fails then is mostly a client
            // gone (an event stream ending while Jetty ends its request, say); routes that stream log their
            // own failures.
            log.debug("{} {} failed after its response began", ctx.method(), ctx.path(), e);
            return;
        }
        Problem p =
                switch (e) {
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
                                "/problems/intake-full",
                                "Too many events",
                                503,
                                ie.getMessage() + "; retry after a second");
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
                        new Problem(
                                "/problems/http-" + he.getStatus(), he.getMessage(), he.getStatus(), he.getMessage());
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
        problem(ctx, p);
    }

    private static Problem notFound(Context ctx) {
        return new Problem(
                "/problems/not-found",
                "Not found",
                404,
                ctx.method() + " " + ctx.path() + " is not part of the API; see docs/server.md");
    }

    private void problem(Context ctx, Problem p) {
        try {
            ctx.status(p.status()).contentType(Problem.MEDIA_TYPE).result(mapper.writeValueAsBytes(p.body(ctx.path())));
        } catch (IOException e) {
            ctx.status(p.status()).result(p.detail());
        }
    }

    private void json(Context ctx, int status, Object body) {
        try {
            ctx.status(status).contentType("application/json").result(mapper.writeValueAsBytes(body));
        } catch (IOException e) {
            throw new IllegalStateException("could not write the response: " + e.getMessage(), e);
        }
    }

    /** Configuration of a {@link KeelServer}. */
    public static final class Builder {
        private final Keel keel;
        private PrometheusMeterRegistry prometheus;
        private String host = "127.0.0.1";
        private int port = DEFAULT_PORT;
        private int maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
        private int maxBatch = DEFAULT_MAX_BATCH;
        private Duration drainTimeout = Duration.ofSeconds(30);
        private Duration emitTimeout = Duration.ofSeconds(10);
        private Duration stuckAfter = Duration.ofMinutes(5);
        private List<AccessToken> tokens = List.of();
        private java.nio.file.Path subscriptionsFile;
        private int requestsPerSecond;
        private Boolean allowPrivateWebhookTargets;
        private final Map<String, String> schemas = new LinkedHashMap<>();
        private int streamsPerToken = EventStreams.Settings.DEFAULT.maxPerToken();
        private int streamBuffer = EventStreams.Settings.DEFAULT.buffer();
        private Duration streamHeartbeat = EventStreams.Settings.DEFAULT.heartbeat();
        private final List<DeclaredSubscription> declared = new ArrayList<>();

        private Builder(Keel keel) {
            this.keel = Objects.requireNonNull(keel, "keel");
        }

        /** The registry the runtime meters into, served at {@code /metrics}. */
        public Builder prometheus(PrometheusMeterRegistry value) {
            this.prometheus = value;
            return this;
        }

        /** The address to bind; 127.0.0.1 by default (0.0.0.0 for every interface). */
        public Builder host(String value) {
            this.host = Objects.requireNonNull(value, "host");
            return this;
        }

        /** The port; 0 picks a free one. */
        public Builder port(int value) {
            if (value < 0 || value > 65_535) {
                throw new IllegalArgumentException("port must be between 0 and 65535 but was " + value);
            }
            this.port = value;
            return this;
        }

        /** The largest request body accepted, in bytes. */
        public Builder maxBodyBytes(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxBodyBytes must be positive but was " + value);
            }
            this.maxBodyBytes = value;
            return this;
        }

        /** The most events one batch request may hold. */
        public Builder maxBatch(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxBatch must be positive but was " + value);
            }
            this.maxBatch = value;
            return this;
        }

        /**
         * The bearer tokens the server accepts. With none, every request is let through (open development
         * mode) and the server may only listen on loopback.
         */
        public Builder tokens(List<AccessToken> value) {
            this.tokens = List.copyOf(value);
            return this;
        }

        /**
         * How long {@code POST /v1/events} waits for the journal to confirm; past it the answer is 503 with
         * {@code Retry-After} (the events may still be stored; a retry with the same ids is accepted once).
         * 10 s by default.
         */
        public Builder emitTimeout(Duration value) {
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("emitTimeout must be positive but was " + value);
            }
            this.emitTimeout = value;
            return this;
        }

        /**
         * How long one delivery may run before {@code /health/ready} reports its lane as stuck (503); 5 minutes
         * by default.
         */
        public Builder stuckAfter(Duration value) {
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("stuckAfter must be positive but was " + value);
            }
            this.stuckAfter = value;
            return this;
        }

        /** How long shutdown waits for in-flight deliveries. */
        public Builder drainTimeout(Duration value) {
            if (value.isNegative()) {
                throw new IllegalArgumentException("drainTimeout must not be negative but was " + value);
            }
            this.drainTimeout = value;
            return this;
        }

        /**
         * A JSON Schema that the data of every ingested event of this type must match; an event that does not is
         * refused with a 400 problem naming the violations. Checked when the server is built.
         *
         * @param type an event type (exact, not a pattern)
         * @param jsonSchema the schema as JSON; the draft its {@code $schema} names, 2020-12 when none
         */
        public Builder schema(String type, String jsonSchema) {
            schemas.put(Objects.requireNonNull(type, "type"), Objects.requireNonNull(jsonSchema, "jsonSchema"));
            return this;
        }

        /**
         * Whether webhooks may point at loopback, private and link-local addresses. By default only in open
         * development mode (no tokens): with tokens, a tenant's webhook cannot reach what only the server can.
         */
        public Builder allowPrivateWebhookTargets(boolean value) {
            this.allowPrivateWebhookTargets = value;
            return this;
        }

        /** The most requests each token may send per second (429 over it); 0, the default, for no limit. */
        public Builder requestsPerSecond(int value) {
            if (value < 0) {
                throw new IllegalArgumentException("requestsPerSecond must be 0 (no limit) or more but was " + value);
            }
            this.requestsPerSecond = value;
            return this;
        }

        /** The most event streams one token may hold open (429 over it); 100 by default. */
        public Builder streamsPerToken(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("streamsPerToken must be at least 1 but was " + value);
            }
            this.streamsPerToken = value;
            return this;
        }

        /**
         * The most events a stream may have waiting for a slow client before it is closed with a
         * {@code keel.overflow} event; 1,000 by default.
         */
        public Builder streamBuffer(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("streamBuffer must be at least 1 but was " + value);
            }
            this.streamBuffer = value;
            return this;
        }

        /** How often an idle stream sends a keep-alive comment; 15 s by default. */
        public Builder streamHeartbeat(Duration value) {
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("streamHeartbeat must be positive but was " + value);
            }
            this.streamHeartbeat = value;
            return this;
        }

        /**
         * The file that keeps the subscriptions created over HTTP across restarts (it holds their signing
         * secrets). Without one they live as long as the server.
         */
        public Builder subscriptionsFile(java.nio.file.Path value) {
            this.subscriptionsFile = value;
            return this;
        }

        /**
         * A webhook subscription that always runs, as declared in the configuration file; it cannot be changed
         * over HTTP. Checked when the server is built.
         *
         * @param name its name
         * @param tenant the tenant it belongs to; null to receive every tenant's events
         * @param spec its fields as in the body of {@code PUT /v1/subscriptions/{name}}
         */
        public Builder subscription(String name, String tenant, Map<String, Object> spec) {
            declared.add(new DeclaredSubscription(name, tenant, new LinkedHashMap<>(spec)));
            return this;
        }

        private record DeclaredSubscription(String name, String tenant, Map<String, Object> spec) {}

        public KeelServer build() {
            return new KeelServer(this);
        }
    }
}
