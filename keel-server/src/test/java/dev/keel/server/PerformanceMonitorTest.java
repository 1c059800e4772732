package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The performance monitor behind {@code performance} in {@code /v1/stats}, and its alert rules: a real server on
 * SQLite delivering to real local receivers, one of which fails on purpose.
 */
class PerformanceMonitorTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;
    private Requests requests;
    private Receiver orders;
    private Receiver alerts;
    private final AtomicInteger sent = new AtomicInteger();

    @BeforeEach
    void start() throws Exception {
        orders = new Receiver();
        alerts = new Receiver();
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel)
                .port(0)
                .allowPrivateWebhookTargets(true)
                .performanceWindow(Duration.ofSeconds(2))
                .alert(AlertRule.errorRate("delivery:*", 50).withMinCalls(1))
                .build()
                .start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        server.close();
        orders.close();
        alerts.close();
    }

    private void subscribe(String name, String type, Receiver to, String extra) throws Exception {
        HttpResponse<String> r = requests.send(
                "PUT",
                "/v1/subscriptions/" + name,
                "application/json",
                "{\"types\":[\"" + type + "\"],\"webhook\":{\"url\":\"" + to.url() + "\"}" + extra + "}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(201);
    }

    private void ingest() throws Exception {
        HttpResponse<String> r = requests.send(
                "POST",
                "/v1/events",
                "application/cloudevents+json",
                "{\"specversion\":\"1.0\",\"id\":\"e-" + sent.incrementAndGet()
                        + "\",\"source\":\"/test\",\"type\":\"order.created\",\"data\":{\"n\":1}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }

    private JsonNode stats() throws Exception {
        HttpResponse<String> r = requests.send("GET", "/v1/stats", null, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).get("performance");
    }

    private long alertsOf(String type) {
        return alerts.calls().stream()
                .filter(c -> c.body().contains("\"" + type + "\"") && c.body().contains("delivery:"))
                .count();
    }

    @Test
    void shouldShowRateSuccessAndPercentilesPerOperation() throws Exception {
        subscribe("orders", "order.*", orders, "");
        for (int i = 0; i < 5; i++) {
            ingest();
        }
        await().atMost(WAIT).untilAsserted(() -> {
            JsonNode ops = stats().get("operations");
            assertThat(ops.at("/ingest/calls").asLong()).isEqualTo(5);
            assertThat(ops.at("/ingest/successRate").asDouble()).isEqualTo(1.0);
            assertThat(ops.at("/ingest/ratePerSecond").asDouble()).isPositive();
            assertThat(ops.at("/ingest/latencyMs/p95").isNumber()).isTrue();
            assertThat(ops.at("/append/calls").asLong()).isGreaterThanOrEqualTo(5);
            assertThat(ops.at("/append/latencyMs/p99").isNumber()).isTrue();
            JsonNode delivery = delivery(ops);
            assertThat(delivery.at("/calls").asLong()).isEqualTo(5);
            assertThat(delivery.at("/successRate").asDouble()).isEqualTo(1.0);
            assertThat(delivery.at("/latencyMs/p50").isNumber()).isTrue();
            JsonNode calls = operation(ops, "webhook:");
            assertThat(calls.at("/calls").asLong()).isEqualTo(5);
            assertThat(calls.at("/successRate").asDouble()).isEqualTo(1.0);
            assertThat(calls.at("/latencyMs/p99").isNumber()).isTrue();
        });
        // A refused request counts as an ingest error of its type, not as a success.
        assertThat(requests.send("POST", "/v1/events", "application/cloudevents+json", "{\"nope\":1}")
                        .statusCode())
                .isEqualTo(400);
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                        stats().at("/operations/ingest/errors/refused").asLong())
                .isEqualTo(1));
    }

    private static JsonNode delivery(JsonNode ops) {
        return operation(ops, "delivery:");
    }

    private static JsonNode operation(JsonNode ops, String prefix) {
        var names = ops.fieldNames();
        while (names.hasNext()) {
            String n = names.next();
            if (n.startsWith(prefix) && n.contains("orders")) {
                return ops.get(n);
            }
        }
        throw new AssertionError("no " + prefix + " operation for orders in " + ops);
    }

    @Test
    void shouldRaiseAnAlertEventWhenDeliveriesFailAndClearItOnRecovery() throws Exception {
        orders.behave((exchange, body) -> Receiver.respond(exchange, 500, "down"));
        subscribe("orders", "order.*", orders, ",\"retry\":{\"maxAttempts\":2,\"initialDelay\":\"20ms\",\"jitter\":0}");
        subscribe("alerts", "keel.alert.*", alerts, "");
        ingest();
        ingest();
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(alertsOf("keel.alert.raised")).isEqualTo(1));
        JsonNode raised = JSON.readTree(alerts.calls().getFirst().body());
        assertThat(raised.toString()).contains("errorRate").contains("delivery:");
        // The calls failed with a 500: the webhook operation counts them by the answer's status class.
        await().atMost(WAIT).untilAsserted(() -> assertThat(operation(stats().get("operations"), "webhook:")
                        .at("/errors/5xx")
                        .asLong())
                .isPositive());

        orders.behave(Receiver.OK);
        await().atMost(WAIT).untilAsserted(() -> {
            ingest(); // successes fill the window as the failures leave it
            assertThat(alertsOf("keel.alert.cleared")).isEqualTo(1);
        });
        // Raised once while the failures lasted, however many ticks saw them.
        assertThat(alertsOf("keel.alert.raised")).isEqualTo(1);
    }

    @Test
    void shouldRaiseAnAlertWhenAnOperationsP95IsOverItsThreshold() throws Exception {
        server.close();
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("slow.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel)
                .port(0)
                .allowPrivateWebhookTargets(true)
                .performanceWindow(Duration.ofSeconds(2))
                .alert(AlertRule.p95("webhook:*", Duration.ofMillis(200)).withMinCalls(1))
                .build()
                .start();
        requests = new Requests(server);
        // A receiver that takes 400 ms to answer: every call is over the threshold, whatever the machine.
        orders.behave((exchange, body) -> {
            Thread.sleep(400);
            Receiver.respond(exchange, 204, "");
        });
        subscribe("orders", "order.*", orders, "");
        subscribe("alerts", "keel.alert.*", alerts, "");
        ingest();
        await().atMost(WAIT).untilAsserted(() -> assertThat(alerts.calls())
                .filteredOn(c -> c.body().contains("keel.alert.raised"))
                .singleElement()
                .satisfies(c -> {
                    JsonNode d = JSON.readTree(c.body()).get("data");
                    assertThat(d.get("rule").asText()).isEqualTo("p95:webhook:*");
                    assertThat(d.get("operation").asText())
                            .startsWith("webhook:")
                            .contains("orders");
                    assertThat(d.get("metric").asText()).isEqualTo("p95");
                    assertThat(d.get("value").asDouble()).isGreaterThan(200);
                }));
    }

    @Test
    void shouldShowATenantItsOwnSubscriptionsOnly() throws Exception {
        server.close();
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("tenants.db")))
                .lanes(2)
                .build()
                .start();
        var scopes = java.util.Set.of(AccessToken.Scope.ADMIN, AccessToken.Scope.PRODUCE);
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(java.util.List.of(
                        new AccessToken("acme-token-0123456789", "acme", scopes),
                        new AccessToken("globex-token-0123456789", "globex", scopes)))
                .allowPrivateWebhookTargets(true)
                .performanceWindow(Duration.ofSeconds(2))
                .alert(AlertRule.errorRate("delivery:*", 50).withMinCalls(1))
                .build()
                .start();
        requests = new Requests(server);
        for (String tenant : new String[] {"acme", "globex"}) {
            String auth = "Bearer " + tenant + "-token-0123456789";
            HttpResponse<String> put = requests.send(
                    "PUT",
                    "/v1/subscriptions/orders",
                    "application/json",
                    "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + orders.url() + "\"}}",
                    "Authorization",
                    auth);
            assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
            HttpResponse<String> post = requests.send(
                    "POST",
                    "/v1/events",
                    "application/cloudevents+json",
                    "{\"specversion\":\"1.0\",\"id\":\"" + tenant
                            + "-1\",\"source\":\"/test\",\"type\":\"order.created\",\"data\":{}}",
                    "Authorization",
                    auth);
            assertThat(post.statusCode()).as(post.body()).isEqualTo(202);
        }
        await().atMost(WAIT).untilAsserted(() -> {
            HttpResponse<String> r =
                    requests.send("GET", "/v1/stats", null, null, "Authorization", "Bearer acme-token-0123456789");
            JsonNode performance = JSON.readTree(r.body()).get("performance");
            java.util.List<String> ops = new java.util.ArrayList<>();
            performance.get("operations").fieldNames().forEachRemaining(ops::add);
            // Its own subscription's deliveries; not globex's, nor ingest and append, which every tenant shares.
            assertThat(ops).hasSize(2).allSatisfy(op -> assertThat(op)
                    .matches("(delivery|webhook):.*")
                    .contains("acme")
                    .doesNotContain("globex"));
            assertThat(performance
                            .at("/operations/" + ops.getFirst().replace("/", "~1") + "/calls")
                            .asLong())
                    .isEqualTo(1);
            assertThat(performance.get("rules")).isEmpty();
        });
    }

    @Test
    void shouldRefuseRulesThatCannotBeChecked() {
        assertThatThrownBy(() -> AlertRule.errorRate("deliveries", 5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'ingest', 'append', 'delivery:<subscription>' or 'webhook:<subscription>'");
        assertThatThrownBy(() -> AlertRule.errorRate("ingest", 100))
                .hasMessageContaining("percentage from 0 to below 100 but was 100");
        assertThatThrownBy(() -> KeelServer.builder(keel)
                        .alert(AlertRule.p95("append", Duration.ofMillis(5)))
                        .alert(AlertRule.p95("append", Duration.ofMillis(9))))
                .hasMessageContaining("named 'p95:append' is configured already");
        assertThatThrownBy(() -> KeelServer.builder(keel).performanceWindow(Duration.ofMillis(10)))
                .hasMessageContaining("at least 1s but was PT0.01S");
    }
}
