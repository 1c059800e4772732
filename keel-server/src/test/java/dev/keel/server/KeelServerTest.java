package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP API against a running server on a SQLite journal: every success and error case of ingest. */
class KeelServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final List<Event<?>> delivered = new CopyOnWriteArrayList<>();
    private Keel keel;
    private KeelServer server;

    @BeforeEach
    void start() {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        JdbcJournal journal = JdbcJournal.sqlite(dir.resolve("keel.db"));
        keel = Keel.builder()
                .journal(journal)
                .lanes(4)
                .meterRegistry(prometheus)
                .build();
        keel.subscribe(Subscription.builder("audit")
                .types("order.**")
                .handler(Object.class, d -> delivered.add(d.event()))
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .prometheus(prometheus)
                .port(0)
                .maxBodyBytes(64 * 1024)
                .maxBatch(10)
                .build()
                .start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> post(String contentType, String body, String... headers) throws Exception {
        return new Requests(server).send("POST", "/v1/events", contentType, body, headers);
    }

    private HttpResponse<String> get(String path) throws Exception {
        return new Requests(server).send("GET", path, null, null);
    }

    private static String event(String id, String type, String extra) {
        return "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"" + type + "\"" + extra
                + "}";
    }

    private static JsonNode problem(HttpResponse<String> response, int status) throws Exception {
        assertThat(response.statusCode()).isEqualTo(status);
        assertThat(response.headers().firstValue("Content-Type"))
                .hasValueSatisfying(ct -> assertThat(ct).startsWith("application/problem+json"));
        JsonNode p = JSON.readTree(response.body());
        assertThat(p.get("status").asInt()).isEqualTo(status);
        assertThat(p.get("type").asText()).startsWith("/problems/");
        assertThat(p.get("detail").asText()).isNotBlank();
        return p;
    }

    @Test
    void shouldAcceptAStructuredEventOnceDurableAndDeliverIt() throws Exception {
        HttpResponse<String> r = post(
                "application/cloudevents+json; charset=utf-8",
                event("e-1", "order.created", ",\"partitionkey\":\"o-1\",\"data\":{\"total\":12.5}"));

        assertThat(r.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(r.body()).get("accepted").get(0).asText()).isEqualTo("e-1");
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 1);
        Event<?> e = delivered.getFirst();
        assertThat(e.id()).isEqualTo("e-1");
        assertThat(e.source()).isEqualTo("/shop");
        assertThat(e.partitionKey()).isEqualTo("o-1");
        assertThat(e.data()).isEqualTo(Map.of("total", new java.math.BigDecimal("12.5"))); // decimals stay exact
    }

    @Test
    void shouldAcceptABatchInOrderAndRefuseAWholeBatchWithOneBadEvent() throws Exception {
        HttpResponse<String> ok = post(
                "application/cloudevents-batch+json",
                "[" + event("b-1", "order.created", ",\"partitionkey\":\"k\",\"data\":1") + ","
                        + event("b-2", "order.paid", ",\"partitionkey\":\"k\",\"data\":2") + "]");
        assertThat(ok.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(ok.body()).get("accepted").toString()).isEqualTo("[\"b-1\",\"b-2\"]");
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 2);
        assertThat(delivered).extracting(Event::id).containsExactly("b-1", "b-2");

        JsonNode p = problem(
                post(
                        "application/cloudevents-batch+json",
                        "[" + event("b-3", "order.created", "") + "," + event("b-4", "Order Created!", "") + "]"),
                400);
        assertThat(p.get("detail").asText()).contains("event 1 of the batch");
        assertThat(keel.stats().emitted()).isEqualTo(2); // nothing of the refused batch was stored
    }

    @Test
    void shouldAcceptBinaryModeWithTheBodyAsData() throws Exception {
        HttpResponse<String> r = post(
                "application/json",
                "{\"sku\":\"A-1\"}",
                "ce-specversion",
                "1.0",
                "ce-id",
                "bin-1",
                "ce-source",
                "/warehouse",
                "ce-type",
                "order.shipped",
                "ce-partitionkey",
                "o-9");
        assertThat(r.statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 1);
        assertThat(delivered.getFirst().data()).isEqualTo(Map.of("sku", "A-1"));
        assertThat(delivered.getFirst().partitionKey()).isEqualTo("o-9");
        assertThat(delivered.getFirst().dataContentType()).isEqualTo("application/json");
    }

    @Test
    void shouldStoreARepeatedIdempotencyKeyOrSourceAndIdOnce() throws Exception {
        String body = event("i-1", "order.created", ",\"data\":1");
        assertThat(post("application/cloudevents+json", body, "Idempotency-Key", "pay-7")
                        .statusCode())
                .isEqualTo(202);
        HttpResponse<String> again = post(
                "application/cloudevents+json",
                event("i-2", "order.created", ",\"data\":1"),
                "Idempotency-Key",
                "pay-7");
        assertThat(again.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(again.body()).has("duplicates")).isTrue();

        HttpResponse<String> sameId = post("application/cloudevents+json", event("s-1", "order.created", ""));
        HttpResponse<String> sameIdAgain = post("application/cloudevents+json", event("s-1", "order.created", ""));
        assertThat(sameId.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(sameIdAgain.body()).get("duplicates").get(0).asText())
                .isEqualTo("s-1");

        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() >= 2);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> delivered.size() == 2);
        assertThat(delivered).extracting(Event::id).containsExactlyInAnyOrder("i-1", "s-1");
    }

    @Test
    void shouldRefuseBadRequestsWithProblemsAndStoreNothing() throws Exception {
        assertThat(problem(post("application/cloudevents+json", "{\"specversion\":"), 400)
                        .get("detail")
                        .asText())
                .contains("not valid JSON");
        assertThat(problem(
                                post(
                                        "application/cloudevents+json",
                                        "{\"specversion\":\"1.0\",\"source\":\"/s\"," + "\"type\":\"order.created\"}"),
                                400)
                        .get("detail")
                        .asText())
                .contains("'id'");
        assertThat(problem(post("application/cloudevents+json", event("x", "order..created", "")), 400)
                        .get("detail")
                        .asText())
                .contains("order..created");
        assertThat(problem(
                                post(
                                        "application/cloudevents+json",
                                        event("x", "order.created", "").replace("\"1.0\"", "\"0.3\"")),
                                400)
                        .get("detail")
                        .asText())
                .contains("0.3");
        assertThat(problem(post("application/cloudevents+json", event("x", "order.created", ",\"time\":\"noon\"")), 400)
                        .get("detail")
                        .asText())
                .contains("RFC 3339");
        assertThat(problem(post("text/plain", "hello"), 415).get("detail").asText())
                .contains("application/cloudevents+json");
        assertThat(problem(post(null, "hello"), 415)).isNotNull();
        String big = event("x", "order.created", ",\"data\":\"" + "a".repeat(70 * 1024) + "\"");
        assertThat(problem(post("application/cloudevents+json", big), 413)
                        .get("detail")
                        .asText())
                .contains("65536");
        StringBuilder batch = new StringBuilder("[");
        for (int i = 0; i < 11; i++) {
            batch.append(i == 0 ? "" : ",").append(event("m-" + i, "order.created", ""));
        }
        assertThat(problem(post("application/cloudevents-batch+json", batch + "]"), 413)
                        .get("detail")
                        .asText())
                .contains("at most 10");
        assertThat(problem(post("application/cloudevents-batch+json", "[]"), 400))
                .isNotNull();
        assertThat(problem(
                        post(
                                "application/cloudevents-batch+json",
                                "[" + event("y", "order.created", "") + "]",
                                "Idempotency-Key",
                                "k"),
                        400))
                .isNotNull();

        // A body without a declared length (chunked) is cut off at the limit too.
        HttpResponse<String> chunked = java.net.http.HttpClient.newHttpClient()
                .send(
                        java.net.http.HttpRequest.newBuilder(
                                        java.net.URI.create("http://127.0.0.1:" + server.port() + "/v1/events"))
                                .header("Content-Type", "application/cloudevents+json")
                                .POST(java.net.http.HttpRequest.BodyPublishers.ofInputStream(
                                        () -> new java.io.ByteArrayInputStream(
                                                big.getBytes(java.nio.charset.StandardCharsets.UTF_8))))
                                .build(),
                        HttpResponse.BodyHandlers.ofString());
        assertThat(problem(chunked, 413).get("detail").asText()).contains("larger than allowed");
        assertThat(problem(post("application/cloudevents+json", event("x", "order.created", "") + "garbage"), 400))
                .isNotNull();

        assertThat(keel.stats().emitted()).isZero();
        await().during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2)).until(delivered::isEmpty);
    }

    @Test
    void shouldServeHealthStatsMetricsAndProblemsForUnknownPaths() throws Exception {
        assertThat(get("/health/live").statusCode()).isEqualTo(200);
        assertThat(get("/health/ready").statusCode()).isEqualTo(200);
        assertThat(get("/health/startup").statusCode()).isEqualTo(200);
        post("application/cloudevents+json", event("h-1", "order.created", ""));

        HttpResponse<String> stats = get("/v1/stats");
        assertThat(stats.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(stats.body()).get("emitted").asLong()).isEqualTo(1);

        HttpResponse<String> metrics = get("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("keel_");

        JsonNode missing = problem(get("/v1/nothing-here"), 404);
        assertThat(missing.get("type").asText()).isEqualTo("/problems/not-found");
        assertThat(missing.get("detail").asText()).contains("/v1/nothing-here");
    }

    @Test
    void shouldRefuseEventsWithRetryAfterOnceTheRuntimeIsClosed() throws Exception {
        server.close();
        Keel closed = Keel.builder().build();
        closed.close();
        try (KeelServer second = KeelServer.builder(closed).port(0).build().start()) {
            HttpResponse<String> r = new Requests(second)
                    .send("POST", "/v1/events", "application/cloudevents+json", event("z", "order.created", ""));
            assertThat(problem(r, 503).get("type").asText()).isEqualTo("/problems/shutting-down");
            assertThat(r.headers().firstValue("Retry-After")).isPresent();
        }
        server = KeelServer.builder(Keel.builder().build()).port(0).build(); // for stop()
    }
}
