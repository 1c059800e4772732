package dev.keel.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.keel.server.AccessToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The YAML file of {@code keel serve --config FILE}. Every key is optional; environment variables override
 * it and flags override both.
 *
 * <pre>{@code
 * port: 8080
 * host: 0.0.0.0
 * dataDir: /var/lib/keel
 * drainTimeout: 30s
 * auth:
 *   tokens:
 *     - token: 3f9c...           # at least 16 characters
 *       tenant: acme
 *       scopes: [produce, consume, admin]
 * limits:
 *   requestsPerSecond: 500       # per token; 0 (the default) for none
 *   streamsPerToken: 100
 *   streamBuffer: 1000           # events a slow stream may fall behind before it is closed
 *   streamHeartbeat: 15s
 * schemas:                       # JSON Schemas that ingested events' data must match, per type
 *   order.created: schemas/order-created.json   # a file, relative to this one
 *   order.paid: {type: object, required: [cents]}
 * webhooks:
 *   allowPrivateTargets: false   # loopback and private addresses; allowed by default only without tokens
 * subscriptions:                 # webhook subscriptions that always run
 *   billing:
 *     tenant: acme               # receives acme's events; leave out for every tenant's
 *     types: [order.*]
 *     webhook: {url: https://billing.example/hooks, secret: whsec_...}
 *     retry: {maxAttempts: 8, initialDelay: 1s}
 * performanceWindow: 60s         # the performance monitor's and the alerts' sliding window
 * alerts:                        # keel.alert.raised / keel.alert.cleared events when crossed / recovered
 *   - operation: delivery:webhook:acme:billing   # ingest, append, delivery:<sub>, webhook:<sub>; '*' ends a prefix
 *     errorRate: 10              # percent of the window's calls failed; or
 *   - operation: append
 *     p95: 50ms                  # the window's 95th percentile latency
 *     minCalls: 20               # calls the window must hold first; 5 by default
 *     name: slow-journal         # carried by the events; <metric>:<operation> by default
 * }</pre>
 *
 * @param port the port
 * @param host the address to bind
 * @param dataDir the SQLite journal's directory
 * @param drainTimeout how long shutdown waits for deliveries
 * @param auth the tokens
 * @param limits request rate and stream limits
 * @param schemas JSON Schemas by event type: inline, or the path of a JSON file relative to the config file
 * @param webhooks webhook settings
 * @param subscriptions webhook subscriptions by name, each as in {@code PUT /v1/subscriptions/{name}} plus an
 *     optional {@code tenant}
 * @param performanceWindow the performance monitor's window ({@code performance} in {@code /v1/stats}, alerts)
 * @param alerts alert rules over the performance monitor's operations
 */
record ServeConfig(
        Integer port,
        String host,
        String dataDir,
        String drainTimeout,
        Auth auth,
        Limits limits,
        java.util.Map<String, Object> schemas,
        Webhooks webhooks,
        java.util.Map<String, java.util.Map<String, Object>> subscriptions,
        String performanceWindow,
        List<Alert> alerts) {
    /** One entry of the {@code alerts} list: an operation and exactly one of errorRate and p95. */
    record Alert(String name, String operation, Double errorRate, String p95, Long minCalls) {
        /** The rule, checked; {@code where} names the entry in messages. */
        dev.keel.server.AlertRule rule(String where) {
            if (operation == null) {
                throw new IllegalArgumentException(where + ": 'operation' is missing (ingest, append,"
                        + " delivery:<subscription> or webhook:<subscription>)");
            }
            if ((errorRate == null) == (p95 == null)) {
                throw new IllegalArgumentException(
                        where + ": give exactly one of 'errorRate' (percent) and 'p95' (a duration such as 250ms)");
            }
            try {
                dev.keel.server.AlertRule rule;
                if (errorRate != null) {
                    rule = dev.keel.server.AlertRule.errorRate(operation, errorRate);
                } else {
                    rule = dev.keel.server.AlertRule.p95(operation, dev.keel.jdbc.StoreSettings.parseDuration(p95));
                }
                if (minCalls != null) {
                    rule = rule.withMinCalls(minCalls);
                }
                return name == null ? rule : rule.withName(name);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }
    }

    /** Sets the performance window and alert rules given on the server. */
    void applyAlerts(dev.keel.server.KeelServer.Builder server) {
        if (performanceWindow != null) {
            try {
                server.performanceWindow(dev.keel.jdbc.StoreSettings.parseDuration(performanceWindow));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("performanceWindow: " + e.getMessage(), e);
            }
        }
        if (alerts == null) {
            return;
        }
        for (int i = 0; i < alerts.size(); i++) {
            String where = "alerts[" + i + "]";
            if (alerts.get(i) == null) {
                throw new IllegalArgumentException(where + " is empty");
            }
            dev.keel.server.AlertRule rule = alerts.get(i).rule(where);
            try {
                server.alert(rule);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }
    }

    /** The {@code webhooks} section. */
    record Webhooks(Boolean allowPrivateTargets) {}

    /** The {@code limits} section. */
    record Limits(Integer requestsPerSecond, Integer streamsPerToken, Integer streamBuffer, String streamHeartbeat) {
        /** Sets the limits given on the server. */
        void applyTo(dev.keel.server.KeelServer.Builder server) {
            if (requestsPerSecond != null) {
                server.requestsPerSecond(requestsPerSecond);
            }
            if (streamsPerToken != null) {
                server.streamsPerToken(streamsPerToken);
            }
            if (streamBuffer != null) {
                server.streamBuffer(streamBuffer);
            }
            if (streamHeartbeat != null) {
                try {
                    server.streamHeartbeat(dev.keel.jdbc.StoreSettings.parseDuration(streamHeartbeat));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("limits.streamHeartbeat: " + e.getMessage(), e);
                }
            }
        }
    }

    /** The {@code auth} section. */
    record Auth(List<Token> tokens) {}

    /** One token as written in the file. */
    record Token(
            @JsonProperty("token") String token,
            @JsonProperty("tenant") String tenant,
            @JsonProperty("scopes") List<String> scopes) {}

    static final ServeConfig EMPTY = new ServeConfig(null, null, null, null, null, null, null, null, null, null, null);

    /** Reads the file; a clear {@link IllegalArgumentException} names what is wrong and where. */
    static ServeConfig load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("the config file '" + file + "' does not exist");
        }
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        try {
            if (Files.readString(file).isBlank()) {
                return EMPTY;
            }
            ServeConfig config = yaml.readValue(file.toFile(), ServeConfig.class);
            return config == null ? EMPTY : config;
        } catch (JsonMappingException e) {
            String where = e.getPath().isEmpty()
                    ? ""
                    : " at '"
                            + e.getPath().stream()
                                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                                    .collect(Collectors.joining("."))
                            + "'";
            throw new IllegalArgumentException(
                    "the config file '" + file + "' is not valid" + where + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the config file '" + file + "': " + e.getMessage(), e);
        }
    }

    /**
     * Registers the configured schemas on the server; they are checked when the server is built.
     *
     * @param base the directory schema files are relative to (the config file's)
     */
    void registerSchemas(dev.keel.server.KeelServer.Builder server, Path base) {
        if (schemas == null) {
            return;
        }
        ObjectMapper json = new ObjectMapper();
        schemas.forEach((type, value) -> {
            try {
                if (value instanceof String file) {
                    Path path = base.resolve(file);
                    if (!Files.isRegularFile(path)) {
                        throw new IllegalArgumentException(
                                "schemas." + type + ": the file '" + path + "' does not exist");
                    }
                    server.schema(type, Files.readString(path));
                } else if (value instanceof java.util.Map<?, ?> || value instanceof Boolean) {
                    server.schema(type, json.writeValueAsString(value));
                } else {
                    throw new IllegalArgumentException(
                            "schemas." + type + " must be a schema object or the path of a JSON file");
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("schemas." + type + ": " + e.getMessage(), e);
            }
        });
    }

    /** Declares the configured subscriptions on the server; they are checked when the server is built. */
    void declareSubscriptions(dev.keel.server.KeelServer.Builder server) {
        if (subscriptions == null) {
            return;
        }
        subscriptions.forEach((name, fields) -> {
            if (fields == null) {
                throw new IllegalArgumentException("subscription '" + name + "' in the config file is empty");
            }
            java.util.Map<String, Object> spec = new java.util.LinkedHashMap<>(fields);
            Object tenant = spec.remove("tenant");
            if (tenant != null && !(tenant instanceof String)) {
                throw new IllegalArgumentException("subscription '" + name + "': 'tenant' must be a string");
            }
            server.subscription(name, (String) tenant, spec);
        });
    }

    /** The tokens, checked. */
    List<AccessToken> tokens() {
        if (auth == null || auth.tokens() == null) {
            return List.of();
        }
        return auth.tokens().stream()
                .map(t -> {
                    if (t.token() == null || t.tenant() == null || t.scopes() == null) {
                        throw new IllegalArgumentException("every entry of auth.tokens needs token, tenant and scopes");
                    }
                    Set<AccessToken.Scope> scopes =
                            t.scopes().stream().map(AccessToken.Scope::parse).collect(Collectors.toSet());
                    return new AccessToken(t.token(), t.tenant(), scopes);
                })
                .toList();
    }
}
