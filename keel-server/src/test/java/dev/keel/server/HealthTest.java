package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.ComponentHealth;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The health tree: the dead letters against their capacity, each webhook subscription's circuit, a component of the
 * user's, and the start of each component; {@code /health/ready} answers 503 only for a critical one.
 */
class HealthTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;
    private Receiver receiver;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (receiver != null) {
            receiver.close();
        }
    }

    private Requests start(Keel.Builder runtime) {
        keel = runtime.journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build();
        Startup startup = new Startup();
        startup.optional("redis-notices", Duration.ofSeconds(5), List.of(), () -> {
            throw new IllegalStateException("connection refused");
        });
        server = KeelServer.builder(keel)
                .port(0)
                .startup(startup)
                .drainTimeout(Duration.ofSeconds(1))
                .allowPrivateWebhookTargets(true)
                .build();
        keel.start();
        server.start();
        return new Requests(server);
    }

    private static JsonNode json(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }

    @Test
    void shouldGoDegradedOverHalfTheDeadLetterCapacityAndNotReadyAtIt() throws Exception {
        Keel.Builder runtime = Keel.builder()
                .deadLetterCapacity(4)
                .subscription(Subscription.builder("ledger")
                        .types("order.*")
                        .retry(RetryPolicy.NO_RETRY)
                        .handler(Object.class, d -> {
                            throw new IllegalStateException("the ledger refuses");
                        })
                        .build());
        Requests requests = start(runtime);
        assertThat(json(requests.send("GET", "/health/ready", null, null), 200)
                        .at("/components/runtime/components/dead-letters/status")
                        .asText())
                .isEqualTo("HEALTHY");

        for (int i = 0; i < 3; i++) {
            emit(requests, "k" + i);
        }
        await().atMost(WAIT)
                .until(() -> json(requests.send("GET", "/health", null, null), 200)
                                .at("/components/runtime/components/dead-letters/details/count")
                                .asLong()
                        == 3);
        JsonNode ready = json(requests.send("GET", "/health/ready", null, null), 200);
        assertThat(ready.get("status").asText()).isEqualTo("DEGRADED");
        JsonNode deadLetters = ready.at("/components/runtime/components/dead-letters");
        assertThat(deadLetters.get("status").asText()).isEqualTo("DEGRADED");
        assertThat(deadLetters.get("reason").asText())
                .contains("3 dead letters")
                .contains("capacity of 4");
        assertThat(deadLetters.at("/details/bySubscription/ledger").asLong()).isEqualTo(3);

        emit(requests, "k3");
        await().atMost(WAIT)
                .until(() -> requests.send("GET", "/health/ready", null, null).statusCode() == 503);
        HttpResponse<String> notReady = requests.send("GET", "/health/ready", null, null);
        assertThat(notReady.headers().firstValue("Content-Type").orElseThrow()).startsWith("application/problem+json");
        assertThat(notReady.body()).contains("dead-letters: 4 dead letters, at or over the capacity of 4");
        JsonNode tree = json(requests.send("GET", "/health", null, null), 503);
        assertThat(tree.get("status").asText()).isEqualTo("DOWN");
        assertThat(tree.at("/components/runtime/status").asText()).isEqualTo("CRITICAL");
        assertThat(tree.at("/components/runtime/components/journal/status").asText())
                .isEqualTo("HEALTHY");
        // Ingest goes on: the capacity is an alarm, nothing is refused.
        emit(requests, "k4");

        keel.deadLetters().purge(Duration.ZERO);
        await().atMost(WAIT)
                .until(() -> requests.send("GET", "/health/ready", null, null).statusCode() == 200);
    }

    @Test
    void shouldShowAnOpenWebhookCircuitDegradedWhileStayingReady() throws Exception {
        receiver = new Receiver();
        Requests requests = start(Keel.builder());
        HttpResponse<String> put = requests.send(
                "PUT",
                "/v1/subscriptions/billing",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"},"
                        + "\"retry\":{\"maxAttempts\":50,\"initialDelay\":\"20ms\",\"jitter\":0},"
                        + "\"circuitBreaker\":{\"failureRate\":50,\"minimumCalls\":2,\"window\":2,\"openFor\":\"30s\"}}");
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
        assertThat(json(requests.send("GET", "/health", null, null), 200)
                        .at("/components/webhooks/components/billing/status")
                        .asText())
                .isEqualTo("HEALTHY");

        receiver.down();
        for (int i = 0; i < 5; i++) {
            emit(requests, "k" + i);
        }
        await().atMost(WAIT).until(() -> json(requests.send("GET", "/health/ready", null, null), 200)
                .at("/components/webhooks/components/billing/details/circuit")
                .asText()
                .equals("open"));
        JsonNode ready = json(requests.send("GET", "/health/ready", null, null), 200);
        assertThat(ready.get("status").asText()).isEqualTo("DEGRADED");
        assertThat(ready.at("/components/webhooks/status").asText()).isEqualTo("DEGRADED");
        assertThat(ready.at("/components/webhooks/reason").asText()).startsWith("billing: its circuit is open");
    }

    @Test
    void shouldShowTheUsersComponentsAndEachComponentsStart() throws Exception {
        AtomicReference<ComponentHealth> payments =
                new AtomicReference<>(ComponentHealth.healthy("payments-gateway", Map.of("latencyMillis", 12)));
        Requests requests = start(Keel.builder().healthCheck(payments::get));

        JsonNode tree = json(requests.send("GET", "/health", null, null), 200);
        // The optional component that did not start makes the server degraded, not unready.
        assertThat(tree.get("status").asText()).isEqualTo("DEGRADED");
        assertThat(tree.at("/components/startup/components/redis-notices/reason")
                        .asText())
                .contains("connection refused");
        assertThat(tree.at("/components/runtime/components/payments-gateway/details/latencyMillis")
                        .asInt())
                .isEqualTo(12);

        payments.set(new ComponentHealth(
                "payments-gateway", ComponentHealth.Status.CRITICAL, "the gateway refuses our key", Map.of()));
        HttpResponse<String> notReady = requests.send("GET", "/health/ready", null, null);
        assertThat(notReady.statusCode()).isEqualTo(503);
        assertThat(notReady.body()).contains("payments-gateway: the gateway refuses our key");

        payments.set(null); // a check that answers nothing is itself shown critical, not a failed request
        assertThat(json(requests.send("GET", "/health", null, null), 503).toString())
                .contains("its health check answered nothing");

        JsonNode started = json(requests.send("GET", "/health/startup", null, null), 200);
        assertThat(started.get("status").asText()).isEqualTo("UP");
        List<String> shown = JSON.convertValue(
                started.get("components").findValues("name"),
                JSON.getTypeFactory().constructCollectionType(List.class, String.class));
        assertThat(shown).containsExactly("redis-notices", "webhook-subscriptions", "http");
        assertThat(started.at("/components/0/state").asText()).isEqualTo("DEGRADED");
        assertThat(started.at("/components/2/state").asText()).isEqualTo("STARTED");
        assertThat(started.at("/components/2/dependsOn/0").asText()).isEqualTo("webhook-subscriptions");
        assertThat(started.at("/components/2/tookMillis").isIntegralNumber()).isTrue();
    }

    private static void emit(Requests requests, String key) throws Exception {
        HttpResponse<String> r = requests.send(
                "POST",
                "/v1/events",
                "application/cloudevents+json",
                "{\"specversion\":\"1.0\",\"id\":\"" + java.util.UUID.randomUUID() + "\",\"source\":\"/test\","
                        + "\"type\":\"order.created\",\"subject\":\"" + key + "\",\"data\":{\"n\":1}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }
}
