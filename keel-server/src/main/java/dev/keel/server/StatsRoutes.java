package dev.keel.server;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.keel.Keel;
import dev.keel.KeelStats;
import dev.keel.Subscription;
import dev.keel.SubscriptionStats;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the runtime is doing: {@code GET /v1/stats} (per tenant), {@code GET /metrics} (Prometheus) and the
 * dashboard page at {@code /}, which shows the stats.
 */
final class StatsRoutes {
    private final Keel keel;
    private final Authenticator auth;
    private final Bodies bodies;
    private final WebhookSubscriptions webhooks;
    private final IngestRoutes ingest;
    private final EventStreams streams;
    /** Null unless the server counts streams across instances. */
    private final dev.keel.redis.RedisStreamCensus census;

    private final PrometheusMeterRegistry prometheus;
    private final PerformanceMonitor performance;

    StatsRoutes(
            Keel keel,
            Authenticator auth,
            Bodies bodies,
            WebhookSubscriptions webhooks,
            IngestRoutes ingest,
            EventStreams streams,
            dev.keel.redis.RedisStreamCensus census,
            PrometheusMeterRegistry prometheus,
            PerformanceMonitor performance) {
        this.keel = keel;
        this.auth = auth;
        this.bodies = bodies;
        this.webhooks = webhooks;
        this.ingest = ingest;
        this.streams = streams;
        this.census = census;
        this.prometheus = prometheus;
        this.performance = performance;
    }

    void register(RoutesConfig routes) {
        routes.get("/v1/stats", ctx -> bodies.json(ctx, 200, stats(auth.authorize(ctx, AccessToken.Scope.ADMIN))));
        routes.get("/metrics", this::metrics);
        routes.get("/", this::dashboard);
    }

    /**
     * The runtime's stats as one tenant may see them: its subscriptions only, and what this server ingested for
     * it (in open mode, the whole runtime).
     */
    private Map<String, Object> stats(String tenant) {
        KeelStats all = keel.stats();
        Map<String, Subscription> byName = new HashMap<>();
        keel.subscriptions().forEach(s -> byName.put(s.name(), s));
        Map<String, WebhookSubscription> webhooksByName = new HashMap<>();
        webhooks.list(tenant).forEach(w -> webhooksByName.put(w.deliveryName(), w));
        List<Map<String, Object>> subs = new ArrayList<>();
        for (SubscriptionStats s : all.subscriptions()) {
            Subscription sub = byName.get(s.name());
            if (sub == null || sub.ephemeral() || (tenant != null && !tenant.equals(sub.tenant()))) {
                continue;
            }
            Map<String, Object> m = bodies.mapper().convertValue(s, new TypeReference<>() {});
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
        long[] counts = ingest.counts(tenant);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tenant", tenant);
        out.put("emitted", tenant == null ? all.emitted() : counts[0]);
        out.put("duplicates", tenant == null ? all.duplicates() : counts[1]);
        out.put("lanes", all.lanes());
        out.put("streams", streams.open(tenant));
        if (census != null) {
            // Every live instance's streams, from the census in Redis; null while Redis is away.
            out.put(
                    "streamsAcrossInstances",
                    census.read()
                            .map(c -> {
                                Map<String, Object> m = new LinkedHashMap<>();
                                m.put("instances", c.instances());
                                m.put("total", c.total(tenant));
                                m.put("byTypes", c.byTypes(tenant));
                                if (tenant == null) {
                                    m.put("byTenant", c.byTenantAndTypes());
                                }
                                return (Object) m;
                            })
                            .orElse(null));
        }
        out.put("subscriptions", subs);
        // Per operation over the monitor's window; a tenant sees its own subscriptions' deliveries only.
        out.put("performance", performance.view(tenant == null, name -> {
            Subscription sub = byName.get(name);
            return sub != null && !sub.ephemeral() && (tenant == null || tenant.equals(sub.tenant()));
        }));
        return out;
    }

    private void metrics(Context ctx) {
        if (prometheus == null) {
            throw new ProblemException(
                    404, "metrics-disabled", "Metrics disabled", "this server was built without a Prometheus registry");
        }
        ctx.contentType("text/plain; version=0.0.4; charset=utf-8").result(prometheus.scrape());
    }

    private void dashboard(Context ctx) throws IOException {
        try (InputStream in = StatsRoutes.class.getResourceAsStream("/dev/keel/server/dashboard.html")) {
            if (in == null) {
                throw new IllegalStateException("the dashboard page is missing from the jar");
            }
            byte[] page = in.readAllBytes();
            ctx.contentType("text/html; charset=utf-8")
                    .header("Cache-Control", "no-cache")
                    // Its own script and style only, by their hashes (SecurityHeaders sets the other headers).
                    .header(
                            "Content-Security-Policy",
                            SecurityHeaders.pagePolicy(new String(page, StandardCharsets.UTF_8)))
                    .result(page);
        }
    }
}
