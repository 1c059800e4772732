package dev.keel.cli;

import dev.keel.Keel;
import dev.keel.jdbc.StoreSettings;
import dev.keel.kafka.KafkaSettings;
import dev.keel.redis.RedisAppendNotices;
import dev.keel.redis.RedisJournal;
import dev.keel.redis.RedisSettings;
import dev.keel.server.AccessToken;
import dev.keel.server.KeelServer;
import dev.keel.server.Startup;
import dev.keel.spi.Journal;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Runs Keel as an HTTP event gateway: the runtime on the configured journal (SQLite in {@code ./keel-data} by
 * default) behind {@link KeelServer}. Flags override {@code KEEL_*} environment variables. SIGTERM and SIGINT
 * stop accepting, drain, and exit 0.
 */
@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        description = "Run the HTTP event gateway: events in over HTTP; webhooks, event streams and the admin API out.",
        footer = {
            "",
            "Routes (docs/server.md has each one's requests, answers and problems):",
            "  POST /v1/events                    ingest CloudEvents (structured, batch, binary)",
            "  GET  /v1/subscriptions             the token's tenant's webhook subscriptions",
            "  GET|PUT|DELETE /v1/subscriptions/{name}",
            "  GET  /v1/stream?types=...          Server-Sent Events; Last-Event-ID resumes",
            "  GET  /v1/dead-letters              list by type, subscription, key, error, age",
            "  GET|DELETE /v1/dead-letters/{id}   one, with its error history",
            "  POST /v1/dead-letters/{id}/reprocess",
            "  POST /v1/dead-letters/reprocess    by criteria, with dryRun and limit",
            "  GET  /v1/audit                     the audit log of admin actions",
            "  GET  /v1/stats                     counters, lag, circuits, streams",
            "  GET  /health, /health/live, /health/ready, /health/startup",
            "  GET  /metrics                      Prometheus",
            "  GET  /                             the dashboard",
            "",
            "Configuration file keys (--config; the environment overrides it, flags both):",
            "  port, host, dataDir, drainTimeout",
            "  auth.tokens: token, tenant, scopes",
            "  limits.requestsPerSecond, limits.streamsPerToken",
            "  limits.streamBuffer, limits.streamHeartbeat",
            "  schemas.<type>, webhooks.allowPrivateTargets",
            "  subscriptions.<name>: the PUT body, plus tenant",
            "  performanceWindow, alerts: operation, errorRate|p95, minCalls, name",
            "",
            "Environment (docs/storage.md#configuration-from-the-environment):",
            "  KEEL_PORT, KEEL_HOST, KEEL_DATA_DIR, KEEL_STORE (sqlite|postgres|kafka|redis|memory),",
            "  KEEL_JDBC_URL, KEEL_JDBC_USER, KEEL_JDBC_PASSWORD, KEEL_POOL_SIZE,",
            "  KEEL_KAFKA_BOOTSTRAP, KEEL_KAFKA_TOPIC, KEEL_KAFKA_REPLICATION,",
            "  KEEL_KAFKA_CREATE_TOPICS, KEEL_KAFKA_CONFIG (docs/kafka.md),",
            "  KEEL_REDIS_URL, KEEL_REDIS_PREFIX, KEEL_REDIS_TIMEOUT,",
            "  KEEL_REDIS_WAIT_REPLICAS (docs/redis.md),",
            "  KEEL_OTLP_ENDPOINT, KEEL_OTLP_SERVICE_NAME,",
            "  KEEL_LOG_FORMAT (docs/deployment.md),",
            "  KEEL_TLS_CERT, KEEL_TLS_KEY or KEEL_TLS_KEYSTORE, KEEL_TLS_KEYSTORE_PASSWORD (docs/security.md),",
            "  KEEL_LANES, KEEL_RETENTION, KEEL_DEAD_LETTER_CAPACITY, KEEL_START_TIMEOUT,",
            "  KEEL_TRUST_PROXY, KEEL_AUDIT_RETENTION (docs/security.md)"
        })
final class ServeCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--port", description = "Port to listen on (KEEL_PORT; default 8080; 0 picks a free one).")
    Integer port;

    @Option(
            names = "--host",
            description = "Address to bind (KEEL_HOST; default 127.0.0.1: with no auth tokens the server"
                    + " stays on loopback).")
    String host;

    @Option(names = "--data-dir", description = "Directory of the SQLite journal (KEEL_DATA_DIR; default ./keel-data).")
    String dataDir;

    @Option(names = "--drain-timeout", description = "How long shutdown waits for in-flight deliveries (default 30s).")
    String drainTimeout;

    @Option(
            names = "--config",
            description = "A YAML file (port, host, dataDir, drainTimeout, auth.tokens); environment variables"
                    + " override it, flags override both.")
    java.nio.file.Path config;

    /** How long {@code keel serve} keeps delivered events by default, so streams can resume into them. */
    static final Duration DEFAULT_RETENTION = Duration.ofMinutes(15);

    /** How long an optional component (Redis beside another engine) may take to start before the server goes on. */
    static final Duration OPTIONAL_START_TIMEOUT = Duration.ofSeconds(15);

    private final Map<String, String> environment;
    private final CountDownLatch stop = new CountDownLatch(1);

    ServeCommand() {
        this(System.getenv());
    }

    ServeCommand(Map<String, String> environment) {
        this.environment = environment;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        ServeConfig file = config != null ? ServeConfig.load(config) : ServeConfig.EMPTY;
        Map<String, String> env = new HashMap<>(environment);
        if (file.dataDir() != null) {
            env.putIfAbsent("KEEL_DATA_DIR", file.dataDir());
        }
        if (dataDir != null) {
            env.put("KEEL_DATA_DIR", dataDir);
        }
        // Kafka and Redis need no database: their settings are their own, and the rest (lanes, retention) read alike.
        String engine = env.getOrDefault("KEEL_STORE", "").trim().toLowerCase(java.util.Locale.ROOT);
        boolean onKafka = engine.equals("kafka");
        boolean onRedis = engine.equals("redis");
        Map<String, String> storeEnv = env;
        if (onKafka || onRedis) {
            storeEnv = new HashMap<>(env);
            storeEnv.put("KEEL_STORE", "memory");
        }
        StoreSettings settings = StoreSettings.fromEnvironment(storeEnv);
        int listenPort = port != null
                ? port
                : env.containsKey("KEEL_PORT")
                        ? Integer.parseInt(env.get("KEEL_PORT"))
                        : file.port() != null ? file.port() : KeelServer.DEFAULT_PORT;
        String bind =
                host != null ? host : env.getOrDefault("KEEL_HOST", file.host() != null ? file.host() : "127.0.0.1");
        Duration drain = StoreSettings.parseDuration(
                drainTimeout != null ? drainTimeout : file.drainTimeout() != null ? file.drainTimeout() : "30s");
        List<AccessToken> tokens = file.tokens();
        // Checked before anything opens: a bad KEEL_OTLP_ENDPOINT is a configuration error (exit code 2).
        LogFormat.check(env);
        OtlpTracing tracing = OtlpTracing.fromEnvironment(env).orElse(null);
        PrometheusMeterRegistry prometheus = ServeMeters.registry();
        RedisSettings redis = env.containsKey("KEEL_REDIS_URL") || onRedis
                ? RedisSettings.fromEnvironment(env, StoreSettings::parseDuration)
                : null;
        Duration startTimeout = startTimeout(env.getOrDefault("KEEL_START_TIMEOUT", "60s"));
        long deadLetterCapacity = positive(env, "KEEL_DEAD_LETTER_CAPACITY", Keel.Builder.DEFAULT_DEAD_LETTER_CAPACITY);
        // Components start in the order they need each other, each within its timeout (/health/startup shows how
        // each went); Redis beside another engine is optional: without it, the server starts degraded and polls.
        Startup startup = new Startup();
        Journal journal = startup.required(
                "journal",
                startTimeout,
                List.of(),
                () -> onKafka
                        ? KafkaSettings.fromEnvironment(env).journal()
                        : onRedis ? redis.journal(prometheus) : settings.journal());
        // On another engine, a Redis beside it wakes every instance's streams and runners at each append.
        RedisAppendNotices notices = redis != null && !onRedis
                ? startup.optional(
                                "redis-notices",
                                OPTIONAL_START_TIMEOUT,
                                List.of(),
                                () -> redis.appendNotices(prometheus))
                        .orElse(null)
                : null;
        Keel.Builder runtime = Keel.builder().journal(journal);
        if (tracing != null) {
            runtime.openTelemetry(tracing.openTelemetry());
        }
        if (notices != null) {
            runtime.appendNotices(notices);
        }
        Keel keel = startup.required("runtime", startTimeout, List.of("journal"), () -> runtime.lanes(settings.lanes())
                // Streams resume from the journal: keep a window of events to resume into, unless told otherwise.
                .retention(env.containsKey("KEEL_RETENTION") ? settings.retention() : DEFAULT_RETENTION)
                .deadLetterCapacity(deadLetterCapacity)
                // Every line logged during a delivery carries its event, correlation and trace ids.
                .logContext(true)
                // A composite, so the server's performance monitor adds its windowed registry behind Prometheus.
                .meterRegistry(new io.micrometer.core.instrument.composite.CompositeMeterRegistry(
                        io.micrometer.core.instrument.Clock.SYSTEM, List.of(prometheus)))
                .build());
        KeelServer server;
        KeelServer built = null;
        try {
            KeelServer.Builder builder = KeelServer.builder(keel)
                    .startup(startup)
                    .startTimeout(startTimeout)
                    .prometheus(prometheus)
                    .host(bind)
                    .port(listenPort)
                    .drainTimeout(drain)
                    .tokens(tokens);
            dev.keel.server.ServerTls.fromEnvironment(env).ifPresent(builder::tls); // KEEL_TLS_* (docs/security.md)
            if (journal instanceof RedisJournal r) {
                builder.healthCheck(r);
            }
            if (notices != null) {
                builder.healthCheck(notices);
            }
            if (redis != null) {
                // Streams of every instance in /v1/stats; a dead instance's expire after 15 s.
                startup.optional(
                                "stream-census",
                                OPTIONAL_START_TIMEOUT,
                                List.of(),
                                () -> redis.streamCensus(prometheus))
                        .ifPresent(census -> builder.streamCensus(census, Duration.ofSeconds(5)));
            }
            if (settings.store() != StoreSettings.Store.MEMORY && !onKafka && !onRedis) {
                // Kept beside the journal's data, so subscriptions created over HTTP come back with it.
                builder.subscriptionsFile(java.nio.file.Path.of(env.getOrDefault("KEEL_DATA_DIR", "./keel-data"))
                        .resolve("subscriptions.json"));
            }
            String trustProxy = env.getOrDefault("KEEL_TRUST_PROXY", "false").trim();
            if (!trustProxy.equals("true") && !trustProxy.equals("false")) {
                throw new IllegalArgumentException(
                        "KEEL_TRUST_PROXY must be true or false but was '" + trustProxy + "'");
            }
            builder.trustProxy(trustProxy.equals("true"));
            if (env.containsKey("KEEL_AUDIT_RETENTION")) {
                builder.auditRetention(StoreSettings.parseDuration(env.get("KEEL_AUDIT_RETENTION")));
            }
            if (file.webhooks() != null && file.webhooks().allowPrivateTargets() != null) {
                builder.allowPrivateWebhookTargets(file.webhooks().allowPrivateTargets());
            }
            if (file.limits() != null) {
                file.limits().applyTo(builder);
            }
            file.declareSubscriptions(builder);
            file.applyAlerts(builder);
            file.registerSchemas(
                    builder,
                    config != null && config.toAbsolutePath().getParent() != null
                            ? config.toAbsolutePath().getParent()
                            : java.nio.file.Path.of("."));
            // Built first, so its webhook subscriptions are registered when the runtime starts: pruning then
            // waits for their stored cursors, and nothing they have not delivered is pruned on a restart.
            built = builder.build();
            startup.required("delivery", startTimeout, List.of("runtime", "webhook-subscriptions"), keel::start);
            server = built.start();
        } catch (RuntimeException e) {
            if (built != null) {
                built.close(); // closes the runtime too
            } else {
                keel.close(Duration.ZERO);
            }
            if (tracing != null) {
                tracing.close();
            }
            throw e;
        }
        out.printf(
                "keel serve: listening on %s://%s:%d (journal: %s)%n",
                server.tls() ? "https" : "http",
                bind,
                server.port(),
                onKafka || onRedis ? engine : settings.store().name().toLowerCase(java.util.Locale.ROOT));
        out.printf("  dashboard: %s://%s:%d/%n", server.tls() ? "https" : "http", bind, server.port());
        out.printf("  POST /v1/events   PUT /v1/subscriptions/{name}   GET /v1/stream   GET /v1/stats /health/ready"
                + " /metrics%n");
        if (tracing != null) {
            out.printf("  spans to %s (OTLP/HTTP)%n", tracing.endpoint());
        }
        if (tokens.isEmpty()) {
            out.println("  OPEN DEVELOPMENT MODE: no auth tokens are configured (auth.tokens in --config); the"
                    + " server stays on loopback and anyone on this machine may emit events");
        } else {
            out.printf("  %d auth token(s) configured; requests need 'Authorization: Bearer <token>'%n", tokens.size());
        }
        out.flush();
        // One shutdown path: the hook drains (KeelServer.close runs once; later callers return at once).
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            try {
                                server.close();
                                if (tracing != null) {
                                    tracing.close(); // after the drain, so the last deliveries' spans are sent
                                }
                            } finally {
                                stop.countDown();
                            }
                        },
                        "keel-shutdown"));
        for (String name : new String[] {"TERM", "INT"}) {
            // Handled here rather than by the JVM's default (exit status 143 or 130): a drained stop exits 0.
            // The hook above does the draining; a second signal while it runs changes nothing.
            sun.misc.Signal.handle(
                    new sun.misc.Signal(name),
                    signal -> Thread.ofPlatform().name("keel-signal").start(() -> System.exit(0)));
        }
        stop.await();
        return 0;
    }

    /** How long each component may take to start ({@code KEEL_START_TIMEOUT}). */
    private static Duration startTimeout(String text) {
        Duration d;
        try {
            d = StoreSettings.parseDuration(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("KEEL_START_TIMEOUT: " + e.getMessage(), e);
        }
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("KEEL_START_TIMEOUT must be positive but was '" + text + "'");
        }
        return d;
    }

    /** A positive whole number from the environment, or the default when unset. */
    private static long positive(Map<String, String> env, String name, long orElse) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return orElse;
        }
        try {
            long n = Long.parseLong(v.trim());
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // answered below
        }
        throw new IllegalArgumentException(name + " must be a positive whole number but was '" + v + "'");
    }
}
