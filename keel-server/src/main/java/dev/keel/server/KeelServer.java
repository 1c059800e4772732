package dev.keel.server;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.keel.Keel;
import io.javalin.Javalin;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Keel's HTTP gateway: events in over HTTP ({@code POST /v1/events}), webhook subscriptions, event streams,
 * the dead-letter admin API, and the runtime's state out ({@code /v1/stats}, {@code /health/*},
 * {@code /metrics}, a dashboard). Errors are RFC 9457 problems. Built on Javalin (Jetty 12), with requests
 * served by a pool of platform threads of their own, apart from the virtual threads deliveries run on: whatever
 * deliveries do, ingest, health and admin keep answering.
 *
 * <p>Each route group is a class of its own ({@link IngestRoutes}, {@link StreamRoutes}, {@link HealthRoutes},
 * {@link StatsRoutes}, {@link SubscriptionRoutes}, {@link DeadLetterRoutes}), and {@link ProblemMapper} turns
 * every failure into a problem; this class wires them and owns the lifecycle.
 *
 * <pre>{@code
 * KeelServer server = KeelServer.builder(keel).port(8080).build();
 * keel.start(); // after build(): its webhook subscriptions are registered, so pruning waits for their cursors
 * server.start();
 * }</pre>
 *
 * <p>Build the server before starting the runtime: a runtime prunes what its registered subscriptions have
 * passed, and a webhook subscription that is not registered yet (it is, once the server is built) would not
 * hold back the events it has still to deliver.
 */
public final class KeelServer implements AutoCloseable {
    /** The default port. */
    public static final int DEFAULT_PORT = 8080;
    /** The default largest request body: 1 MiB. */
    public static final int DEFAULT_MAX_BODY_BYTES = 1 << 20;
    /** How long each of the server's components may take to start by default: 60 s. */
    public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(60);
    /** The default largest batch: 1,000 events. */
    public static final int DEFAULT_MAX_BATCH = 1_000;

    private static final int ACCEPT_QUEUE = 4_096;
    /** Platform threads serving requests (event streams hold none once they are handed to the fan-out). */
    private static final int MAX_REQUEST_THREADS = 256;

    private final Keel keel;
    private final String host;
    private final Duration drainTimeout;
    private final Authenticator auth;
    private final WebhookSubscriptions webhooks;
    private final EventStreams streams;
    /** Null unless streams are counted across instances. */
    private final dev.keel.redis.RedisStreamCensus census;

    private final Thread censusThread;
    private final Lifecycle lifecycle = new Lifecycle();
    private final Startup startup;
    private final PerformanceMonitor performance;
    private final Duration startTimeout;
    private final List<AutoCloseable> binders = new ArrayList<>();
    private final Javalin app;
    /** Null without TLS. */
    private volatile ServerTls.Listener tlsListener;

    private KeelServer(Builder b) {
        this.keel = b.keel;
        this.host = b.host;
        this.drainTimeout = b.drainTimeout;
        ObjectMapper mapper = new ObjectMapper()
                .registerModule(new JavaTimeModule())
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS);
        Bodies bodies = new Bodies(mapper, b.maxBodyBytes);
        ProblemMapper problems = new ProblemMapper(mapper);
        this.auth = new Authenticator(b.tokens, b.requestsPerSecond);
        Map<String, JsonNode> schemaNodes = new LinkedHashMap<>();
        b.schemas.forEach((type, text) -> {
            try {
                schemaNodes.put(type, mapper.readTree(text));
            } catch (IOException e) {
                throw new IllegalArgumentException("the schema of '" + type + "' is not JSON: " + e.getMessage(), e);
            }
        });
        EventSchemas schemas = new EventSchemas(schemaNodes, mapper);
        if (auth.open() && !loopback(host)) {
            throw new IllegalArgumentException("no auth tokens are configured, so the server listens on loopback only,"
                    + " not on '" + host + "'; configure tokens (auth.tokens) to listen there");
        }
        this.streams = new EventStreams(
                keel,
                mapper,
                new EventStreams.Settings(
                        b.streamHeartbeat,
                        b.streamBuffer,
                        b.streamsPerToken,
                        // While told of other instances' appends, the tails poll only as a safety net (StreamTails).
                        EventStreams.Settings.DEFAULT.poll(),
                        EventStreams.Settings.DEFAULT.reconnect()));
        this.webhooks = new WebhookSubscriptions(
                keel,
                mapper,
                b.subscriptionsFile,
                Clock.systemUTC(),
                b.allowPrivateWebhookTargets != null ? b.allowPrivateWebhookTargets : auth.open());
        List<WebhookSubscriptions.Definition> declared = new ArrayList<>();
        b.declared.forEach(d ->
                declared.add(new WebhookSubscriptions.Definition(d.name(), d.tenant(), mapper.valueToTree(d.spec()))));
        this.startup = b.startup != null ? b.startup : new Startup();
        this.startTimeout = b.startTimeout;
        try {
            // Each start returns what closes it, so a start that completes after its timeout is closed.
            startup.required("webhook-subscriptions", startTimeout, List.of(), () -> {
                webhooks.start(declared);
                return webhooks;
            });
        } catch (RuntimeException e) {
            webhooks.close();
            throw e;
        }
        if (b.prometheus != null) {
            bindJvmMeters(b.prometheus);
        }
        IngestRoutes ingest = new IngestRoutes(
                keel, auth, lifecycle, bodies, new CloudEventReader(mapper), schemas, b.maxBatch, b.emitTimeout);
        StreamRoutes stream = new StreamRoutes(streams, auth, keel.lanes());
        HealthRoutes health =
                new HealthRoutes(keel, lifecycle, bodies, b.stuckAfter, webhooks, startup, b.healthChecks);
        this.performance = new PerformanceMonitor(keel, b.performanceWindow, b.alerts);
        StatsRoutes stats =
                new StatsRoutes(keel, auth, bodies, webhooks, ingest, streams, b.census, b.prometheus, performance);
        this.census = b.census;
        this.censusThread = b.census == null
                ? null
                : Thread.ofVirtual().name("keel-stream-census").unstarted(() -> reportStreams(b.censusInterval));
        DeadLetterRoutes deadLetters = new DeadLetterRoutes(keel, auth, bodies, webhooks);
        SubscriptionRoutes subscriptions = new SubscriptionRoutes(webhooks, auth, bodies);
        DeliveryRoutes deliveries = new DeliveryRoutes(keel, auth, bodies, webhooks);
        AuditLog audit = new AuditLog(
                keel.auditTrail(),
                problems,
                mapper,
                keel.meterRegistry(),
                Clock.systemUTC(),
                b.auditRetention,
                b.trustProxy);
        AuditRoutes auditRoutes = new AuditRoutes(audit, auth, bodies);
        this.app = Javalin.create(config -> {
            config.jetty.host = host;
            config.jetty.port = b.port;
            config.jetty.modifyServer(server -> server.setErrorHandler(new ProblemErrorHandler()));
            config.jetty.addConnector((server, http) -> {
                ServerConnector connector;
                if (b.tls != null) {
                    tlsListener = b.tls.listen(server, http);
                    connector = tlsListener.connector();
                } else {
                    connector = new ServerConnector(server, new HttpConnectionFactory(http));
                }
                connector.setHost(host);
                connector.setPort(b.port);
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
            QueuedThreadPool requests = new QueuedThreadPool(MAX_REQUEST_THREADS, 8, 60_000);
            requests.setName("keel-http");
            requests.setDaemon(true);
            config.jetty.threadPool = requests;
            config.startup.showJavalinBanner = false;
            // Jetty compresses answers (ResponseCompression), so Javalin does not; Bodies reads gzip requests.
            config.http.compressionStrategy = io.javalin.compression.CompressionStrategy.NONE;
            config.jetty.modifyServletContextHandler(context -> {
                context.insertHandler(ResponseCompression.handler());
                context.insertHandler(new SecurityHeaders());
            });
            // Bodies are read by the handlers, which answer an oversized one with a problem of their own.
            config.http.maxRequestSize = Long.MAX_VALUE;
            ingest.register(config.routes);
            stream.register(config.routes);
            health.register(config.routes);
            stats.register(config.routes);
            deadLetters.register(config.routes, audit);
            subscriptions.register(config.routes, audit);
            deliveries.register(config.routes, audit);
            auditRoutes.register(config.routes);
            config.routes.exception(Exception.class, problems::handle);
            // Paths outside the API: Javalin answers those without reaching the exception handlers.
            config.routes.error(404, "*", ctx -> {
                String type = ctx.res().getContentType();
                if (type == null || !type.startsWith(Problem.MEDIA_TYPE)) {
                    problems.write(ctx, ProblemMapper.notFound(ctx));
                }
            });
        });
    }

    /** JVM and process meters, so that a scrape right after start has samples. */
    private void bindJvmMeters(PrometheusMeterRegistry registry) {
        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(registry);
        binders.add(gc);
        JvmThreadMetrics threads = new JvmThreadMetrics();
        threads.bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    /** A builder for a server in front of the runtime. */
    public static Builder builder(Keel keel) {
        return new Builder(keel);
    }

    /** Starts listening; returns once the port is bound. */
    public KeelServer start() {
        startup.required("http", startTimeout, List.of("webhook-subscriptions"), () -> {
            app.start();
            return (AutoCloseable) app::stop;
        });
        lifecycle.started(true);
        performance.start();
        if (censusThread != null) {
            censusThread.start();
        }
        return this;
    }

    /** Tells the census this instance's streams, every interval, until the server closes. */
    private void reportStreams(Duration interval) {
        while (!lifecycle.draining()) {
            try {
                census.report(streams.countsByTenantAndTypes());
                Thread.sleep(interval);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(KeelServer.class).debug("the stream census failed", e);
            }
        }
    }

    /** The port the server listens on (the bound one when configured as 0). */
    public int port() {
        return app.port();
    }

    /** The host the server is bound to. */
    public String host() {
        return host;
    }

    /** Whether the server speaks HTTPS. */
    public boolean tls() {
        return tlsListener != null;
    }

    /** Whether requests need a token (false in open development mode). */
    public boolean requiresTokens() {
        return !auth.open();
    }

    /**
     * Stops accepting events (new ones are answered 503 with {@code Retry-After}), lets the runtime drain
     * in-flight deliveries up to the drain timeout, then stops listening. The runtime is closed too.
     */
    @Override
    public synchronized void close() {
        if (!lifecycle.drain()) {
            return; // closed, or being closed by another thread
        }
        try {
            if (censusThread != null) {
                censusThread.interrupt();
                census.close();
            }
            streams.close();
            performance.close();
            webhooks.stopSync();
            keel.close(drainTimeout);
        } finally {
            try {
                app.stop();
            } finally {
                if (tlsListener != null) {
                    tlsListener.close();
                }
                webhooks.close();
                for (AutoCloseable c : binders) {
                    try {
                        c.close();
                    } catch (Exception ignored) {
                        // a meter binder that cannot close holds nothing that matters at shutdown
                    }
                }
            }
        }
    }

    /** Whether the address is this machine only. */
    static boolean loopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("cannot resolve the host '" + host + "': " + e.getMessage(), e);
        }
    }

    /** Configuration of a {@link KeelServer}. */
    public static final class Builder {
        private final Keel keel;
        private PrometheusMeterRegistry prometheus;
        private String host = "127.0.0.1";
        private int port = DEFAULT_PORT;
        private ServerTls tls;
        private int maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
        private int maxBatch = DEFAULT_MAX_BATCH;
        private Duration drainTimeout = Duration.ofSeconds(30);
        private Duration emitTimeout = Duration.ofSeconds(10);
        private Duration stuckAfter = Duration.ofMinutes(5);
        private final List<dev.keel.ComponentHealth.Check> healthChecks = new java.util.ArrayList<>();
        private Startup startup;
        private Duration startTimeout = DEFAULT_START_TIMEOUT;
        private dev.keel.redis.RedisStreamCensus census;
        private Duration censusInterval = Duration.ofSeconds(5);
        private List<AccessToken> tokens = List.of();
        private java.nio.file.Path subscriptionsFile;
        private int requestsPerSecond;
        private Boolean allowPrivateWebhookTargets;
        private boolean trustProxy;
        private Duration auditRetention = Duration.ofDays(90);
        private final Map<String, String> schemas = new LinkedHashMap<>();
        private int streamsPerToken = EventStreams.Settings.DEFAULT.maxPerToken();
        private int streamBuffer = EventStreams.Settings.DEFAULT.buffer();
        private Duration streamHeartbeat = EventStreams.Settings.DEFAULT.heartbeat();
        private final List<DeclaredSubscription> declared = new ArrayList<>();
        private final List<AlertRule> alerts = new ArrayList<>();
        private Duration performanceWindow = PerformanceMonitor.DEFAULT_WINDOW;

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

        /** Serves HTTPS with this certificate (reloaded when its files change) instead of plain HTTP. */
        public Builder tls(ServerTls value) {
            this.tls = Objects.requireNonNull(value, "tls");
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
         * Counts the event streams of every instance: this one reports its own to the census every interval, and
         * {@code /v1/stats} shows the sum over the live instances ({@code streamsAcrossInstances}); the census is
         * also a health component. The server closes it.
         */
        public Builder streamCensus(dev.keel.redis.RedisStreamCensus value, Duration interval) {
            this.census = java.util.Objects.requireNonNull(value, "census");
            if (interval == null || interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("the census interval must be positive but was " + interval);
            }
            this.censusInterval = interval;
            this.healthChecks.add(value);
            return this;
        }

        /**
         * A component {@code /health/ready} shows (a Redis connection, say): a {@code CRITICAL} one makes the server
         * not ready (503), a {@code DEGRADED} one is shown with a ready server's {@code "status": "DEGRADED"}.
         */
        public Builder healthCheck(dev.keel.ComponentHealth.Check check) {
            healthChecks.add(java.util.Objects.requireNonNull(check, "check"));
            return this;
        }

        /**
         * The record of the components started before the server (the journal, Redis), so that
         * {@code /health/startup} shows them beside the server's own ({@code webhook-subscriptions}, {@code http}),
         * and optional ones that started degraded show in {@code /health}. A new one by default.
         */
        public Builder startup(Startup value) {
            this.startup = Objects.requireNonNull(value, "startup");
            return this;
        }

        /** How long each of the server's own components may take to start; 60 s by default. */
        public Builder startTimeout(Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("startTimeout must be positive but was " + value);
            }
            this.startTimeout = value;
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

        /**
         * Whether the server runs behind a proxy it trusts to set {@code X-Forwarded-For}: the audit log then
         * records the header's last address as where a request came from. Off by default, when the header is
         * ignored (any client could send one) and the connection's address is recorded.
         */
        public Builder trustProxy(boolean value) {
            this.trustProxy = value;
            return this;
        }

        /** How long audit entries are kept: 90 days by default; older ones are pruned hourly. */
        public Builder auditRetention(Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("auditRetention must be positive but was " + value);
            }
            this.auditRetention = value;
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
         * A subscriptions file written by an earlier version (which kept the subscriptions created over HTTP in a
         * file per instance): its subscriptions are moved into the journal once, at start, and the file is
         * renamed {@code <name>.imported}. They are kept in the journal from then on, for every instance.
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

        /**
         * An alert rule: when an operation crosses it over the performance window, the server emits a
         * {@code keel.alert.raised} event into the runtime, once, and {@code keel.alert.cleared} when it is back under
         * it (docs/observability.md). Rule names must be unique.
         */
        public Builder alert(AlertRule rule) {
            Objects.requireNonNull(rule, "rule");
            if (alerts.stream().anyMatch(a -> a.name().equals(rule.name()))) {
                throw new IllegalArgumentException("an alert rule named '" + rule.name() + "' is configured already;"
                        + " give each rule its own name");
            }
            alerts.add(rule);
            return this;
        }

        /**
         * The sliding window of the performance monitor ({@code performance} in {@code /v1/stats}) and of the alert
         * rules, kept in 12 buckets; 60 s by default, at least 1 s.
         */
        public Builder performanceWindow(Duration value) {
            if (value == null || value.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("performanceWindow must be at least 1s but was " + value);
            }
            this.performanceWindow = value;
            return this;
        }

        private record DeclaredSubscription(String name, String tenant, Map<String, Object> spec) {}

        public KeelServer build() {
            return new KeelServer(this);
        }
    }
}
