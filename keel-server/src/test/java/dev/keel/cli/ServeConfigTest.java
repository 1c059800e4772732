package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.server.AccessToken;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServeConfigTest {
    @TempDir
    Path dir;

    private Path file(String yaml) throws Exception {
        return Files.writeString(dir.resolve("keel.yaml"), yaml);
    }

    @Test
    void shouldReadEveryKey() throws Exception {
        ServeConfig c = ServeConfig.load(file("""
                port: 9090
                host: 0.0.0.0
                dataDir: /var/lib/keel
                drainTimeout: 5s
                limits: {requestsPerSecond: 200, streamsPerToken: 5, streamBuffer: 50, streamHeartbeat: 5s}
                auth:
                  tokens:
                    - token: acme-token-0123456789
                      tenant: acme
                      scopes: [produce, ADMIN]
                """));
        assertThat(c.port()).isEqualTo(9090);
        assertThat(c.host()).isEqualTo("0.0.0.0");
        assertThat(c.dataDir()).isEqualTo("/var/lib/keel");
        assertThat(c.drainTimeout()).isEqualTo("5s");
        assertThat(c.limits()).isEqualTo(new ServeConfig.Limits(200, 5, 50, "5s"));
        assertThat(c.tokens()).singleElement().satisfies(t -> {
            assertThat(t.tenant()).isEqualTo("acme");
            assertThat(t.scopes()).isEqualTo(Set.of(AccessToken.Scope.PRODUCE, AccessToken.Scope.ADMIN));
        });
        assertThat(ServeConfig.load(file("")).tokens()).isEmpty();
    }

    @Test
    void shouldDeclareSubscriptionsAndNameTheOneThatIsWrong() throws Exception {
        ServeConfig c = ServeConfig.load(file("""
                subscriptions:
                  billing:
                    tenant: acme
                    types: [order.*]
                    webhook: {url: "http://127.0.0.1:9/hooks"}
                    retry: {maxAttempts: 3, initialDelay: 250ms}
                    ordering: strict
                """));
        try (dev.keel.Keel keel = dev.keel.Keel.builder().build()) {
            dev.keel.server.KeelServer.Builder builder =
                    dev.keel.server.KeelServer.builder(keel).port(0);
            c.declareSubscriptions(builder);
            builder.build().close();
            assertThat(keel.subscriptions()).singleElement().satisfies(s -> {
                assertThat(s.name()).isEqualTo("webhook:acme:billing");
                assertThat(s.tenant()).isEqualTo("acme");
                assertThat(s.policy().retry().maxAttempts()).isEqualTo(3);
                assertThat(s.policy().ordering()).isEqualTo(dev.keel.OrderingMode.STRICT);
            });
        }
        ServeConfig bad = ServeConfig.load(file("""
                subscriptions:
                  billing:
                    types: [order.*]
                    webhook: {url: "http://127.0.0.1:9/hooks"}
                    retry: {maxAttempts: lots}
                """));
        try (dev.keel.Keel keel = dev.keel.Keel.builder().build()) {
            dev.keel.server.KeelServer.Builder builder =
                    dev.keel.server.KeelServer.builder(keel).port(0);
            bad.declareSubscriptions(builder);
            assertThatThrownBy(builder::build)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("subscription 'billing'")
                    .hasMessageContaining("retry.maxAttempts");
        }
    }

    @Test
    void shouldRegisterSchemasInlineAndFromFiles() throws Exception {
        Files.writeString(dir.resolve("paid.json"), "{\"type\":\"object\",\"required\":[\"cents\"]}");
        ServeConfig c = ServeConfig.load(file("""
                schemas:
                  order.paid: paid.json
                  order.created: {type: object, required: [id]}
                """));
        try (dev.keel.Keel keel = dev.keel.Keel.builder().build()) {
            dev.keel.server.KeelServer.Builder builder =
                    dev.keel.server.KeelServer.builder(keel).port(0);
            c.registerSchemas(builder, dir);
            dev.keel.server.KeelServer server = builder.build().start();
            try {
                var http = java.net.http.HttpClient.newHttpClient();
                for (String[] t : new String[][] {{"order.paid", "cents"}, {"order.created", "id"}}) {
                    var r = http.send(
                            java.net.http.HttpRequest.newBuilder(
                                            java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/events"))
                                    .header("Content-Type", "application/cloudevents+json")
                                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                                            "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"" + t[0]
                                                    + "\",\"data\":{}}"))
                                    .build(),
                            java.net.http.HttpResponse.BodyHandlers.ofString());
                    assertThat(r.statusCode()).isEqualTo(400);
                    assertThat(r.body()).contains(t[1]);
                }
            } finally {
                server.close();
            }
        }
        assertThatThrownBy(() -> ServeConfig.load(file("schemas:\n  order.paid: missing.json\n"))
                        .registerSchemas(
                                dev.keel.server.KeelServer.builder(
                                        dev.keel.Keel.builder().build()),
                                dir))
                .hasMessageContaining("missing.json")
                .hasMessageContaining("does not exist");
    }

    @Test
    void shouldNameWhatIsWrong() throws Exception {
        assertThatThrownBy(() -> ServeConfig.load(file("prot: 9090\n")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prot");
        assertThatThrownBy(() -> ServeConfig.load(file("port: eighty\n"))).hasMessageContaining("port");
        assertThatThrownBy(() -> ServeConfig.load(file(
                                "auth:\n  tokens:\n    - {token: acme-token-0123456789, tenant: a, scopes: [root]}\n"))
                        .tokens())
                .hasMessageContaining("unknown scope 'root'");
        assertThatThrownBy(() -> ServeConfig.load(file("auth:\n  tokens:\n    - {token: x, tenant: a}\n"))
                        .tokens())
                .hasMessageContaining("token, tenant and scopes");
        assertThatThrownBy(() -> ServeConfig.load(dir.resolve("missing.yaml"))).hasMessageContaining("does not exist");
    }

    @Test
    void shouldConfigureAlertRulesAndNameTheOneThatIsWrong() throws Exception {
        ServeConfig c = ServeConfig.load(file("""
                performanceWindow: 30s
                alerts:
                  - operation: delivery:*
                    errorRate: 10
                  - operation: append
                    p95: 50ms
                    minCalls: 20
                    name: slow-journal
                """));
        try (dev.keel.Keel keel = dev.keel.Keel.builder().build()) {
            dev.keel.server.KeelServer.Builder builder =
                    dev.keel.server.KeelServer.builder(keel).port(0);
            c.applyAlerts(builder);
            try (dev.keel.server.KeelServer server = builder.build().start()) {
                var response = java.net.http.HttpClient.newHttpClient()
                        .send(
                                java.net.http.HttpRequest.newBuilder(
                                                java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/stats"))
                                        .build(),
                                java.net.http.HttpResponse.BodyHandlers.ofString());
                var performance = new com.fasterxml.jackson.databind.ObjectMapper()
                        .readTree(response.body())
                        .get("performance");
                assertThat(performance.get("windowSeconds").asDouble()).isEqualTo(30.0);
                assertThat(performance.at("/rules/0/name").asText()).isEqualTo("error-rate:delivery:*");
                assertThat(performance.at("/rules/1/name").asText()).isEqualTo("slow-journal");
                assertThat(performance.at("/rules/1/threshold").asDouble()).isEqualTo(50.0);
                assertThat(performance.at("/rules/1/minCalls").asLong()).isEqualTo(20);
            }
        }
        String[][] bad = {
            {"alerts:\n  - {errorRate: 5}\n", "alerts[0]: 'operation' is missing"},
            {"alerts:\n  - {operation: ingest}\n", "alerts[0]: give exactly one of 'errorRate'"},
            {"alerts:\n  - {operation: ingest, errorRate: 5, p95: 1s}\n", "exactly one of"},
            {
                "alerts:\n  - {operation: ingest, errorRate: 5}\n  - {operation: queue, p95: 1s}\n",
                "alerts[1]: alert 'p95:queue': the operation must be 'ingest', 'append', 'delivery:<subscription>' or"
            },
            {"alerts:\n  - {operation: ingest, errorRate: 150}\n", "alerts[0]: alert 'error-rate:ingest'"},
            {"alerts:\n  - {operation: ingest, p95: soon}\n", "alerts[0]:"},
            {"alerts:\n  - {operation: ingest, errorRate: 5, minCalls: 0}\n", "minCalls must be at least 1 but was 0"},
            {
                "alerts:\n  - {operation: ingest, errorRate: 5}\n  - {operation: ingest, errorRate: 9}\n",
                "alerts[1]: an alert rule named 'error-rate:ingest' is configured already"
            },
            {"performanceWindow: 10ms\n", "performanceWindow: performanceWindow must be at least 1s"},
        };
        for (String[] b : bad) {
            ServeConfig config = ServeConfig.load(file(b[0]));
            try (dev.keel.Keel keel = dev.keel.Keel.builder().build()) {
                assertThatThrownBy(() -> config.applyAlerts(dev.keel.server.KeelServer.builder(keel)))
                        .as(b[0])
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining(b[1]);
            }
        }
    }
}
