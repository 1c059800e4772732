package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeadLetterRoutesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final AtomicBoolean ledgerUp = new AtomicBoolean(false);
    private final List<Object> booked = new CopyOnWriteArrayList<>();
    private Keel keel;
    private KeelServer server;

    @BeforeEach
    void start() {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build();
        keel.subscribe(Subscription.builder("ledger")
                .types("order.*")
                .retry(RetryPolicy.builder().maxAttempts(1).build())
                .handler(Object.class, d -> {
                    if (!ledgerUp.get()) {
                        throw new IOException("ledger down for " + d.event().id());
                    }
                    booked.add(d.event().data());
                })
                .build());
        keel.start();
        server = KeelServer.builder(keel).port(0).build().start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> send(String method, String path, String body) throws Exception {
        return new Requests(server).send(method, path, "application/json", body);
    }

    private JsonNode ok(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return r.body().isEmpty() ? null : JSON.readTree(r.body());
    }

    @Test
    void shouldListShowReprocessAndDeleteDeadLetters() throws Exception {
        keel.emit("order.created", "a", 1).join();
        keel.emit("order.created", "b", 2).join();
        keel.emit("order.paid", "c", 3).join();
        await().atMost(Duration.ofSeconds(10)).until(() -> keel.deadLetters().count("ledger") == 3);

        JsonNode all = ok(send("GET", "/v1/dead-letters", null), 200);
        assertThat(all.get("items")).hasSize(3);
        assertThat(all.get("next").isNull()).isTrue();
        JsonNode paid = ok(send("GET", "/v1/dead-letters?type=order.paid", null), 200);
        assertThat(paid.get("items")).hasSize(1);
        assertThat(paid.get("items").get(0).get("partitionKey").asText()).isEqualTo("c");
        JsonNode page = ok(send("GET", "/v1/dead-letters?pageSize=2", null), 200);
        assertThat(page.get("items")).hasSize(2);
        JsonNode rest = ok(
                send(
                        "GET",
                        "/v1/dead-letters?pageSize=2&after=" + page.get("next").asText(),
                        null),
                200);
        assertThat(rest.get("items")).hasSize(1);
        List<String> oldestFirst = new ArrayList<>();
        all.get("items").forEach(i -> oldestFirst.add(i.get("id").asText()));
        JsonNode recent = ok(send("GET", "/v1/dead-letters?order=newest&pageSize=2", null), 200);
        JsonNode older = ok(
                send(
                        "GET",
                        "/v1/dead-letters?order=newest&pageSize=2&after="
                                + recent.get("next").asText(),
                        null),
                200);
        List<String> newestFirst = new ArrayList<>();
        recent.get("items").forEach(i -> newestFirst.add(i.get("id").asText()));
        older.get("items").forEach(i -> newestFirst.add(i.get("id").asText()));
        assertThat(newestFirst).containsExactlyElementsOf(oldestFirst.reversed());

        String id = paid.get("items").get(0).get("id").asText();
        JsonNode one = ok(send("GET", "/v1/dead-letters/" + id, null), 200);
        assertThat(one.get("event").get("type").asText()).isEqualTo("order.paid");
        assertThat(one.get("event").get("data").asInt()).isEqualTo(3);
        assertThat(one.get("errors").get(0).get("errorType").asText()).isEqualTo("java.io.IOException");
        assertThat(one.get("errors").get(0).get("message").asText()).contains("ledger down");

        ledgerUp.set(true);
        ok(send("POST", "/v1/dead-letters/" + id + "/reprocess", null), 202);
        await().atMost(Duration.ofSeconds(10)).until(() -> booked.contains(3));

        JsonNode dry = ok(send("POST", "/v1/dead-letters/reprocess", "{\"type\":\"order.*\",\"dryRun\":true}"), 200);
        assertThat(dry.get("matched").asInt()).isEqualTo(2);
        assertThat(dry.get("dryRun").asBoolean()).isTrue();
        assertThat(keel.deadLetters().count("ledger")).isEqualTo(2);

        String other = all.get("items").get(0).get("id").asText().equals(id)
                ? all.get("items").get(1).get("id").asText()
                : all.get("items").get(0).get("id").asText();
        assertThat(send("DELETE", "/v1/dead-letters/" + other, null).statusCode())
                .isEqualTo(204);
        assertThat(send("GET", "/v1/dead-letters/" + other, null).statusCode()).isEqualTo(404);

        JsonNode many = ok(send("POST", "/v1/dead-letters/reprocess", "{\"limit\":10}"), 200);
        assertThat(many.get("reprocessed")).hasSize(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> booked.size() == 2);
        // The handler returns before its pass commits; the commit removes the dead letter.
        await().atMost(Duration.ofSeconds(10)).until(() -> keel.deadLetters().count("ledger") == 0);
    }

    @Test
    void shouldAnswerProblemsForUnknownIdsAndBadCriteria() throws Exception {
        HttpResponse<String> missing = send("GET", "/v1/dead-letters/nope", null);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.headers().firstValue("Content-Type").orElse("")).startsWith(Problem.MEDIA_TYPE);
        assertThat(send("POST", "/v1/dead-letters/nope/reprocess", null).statusCode())
                .isEqualTo(404);
        assertThat(send("DELETE", "/v1/dead-letters/nope", null).statusCode()).isEqualTo(404);
        HttpResponse<String> age = send("GET", "/v1/dead-letters?olderThan=soon", null);
        assertThat(age.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(age.body()).get("detail").asText()).contains("olderThan");
        assertThat(send("GET", "/v1/dead-letters?type=Bad..Type", null).statusCode())
                .isEqualTo(400);
        assertThat(send("GET", "/v1/dead-letters?pageSize=0", null).statusCode())
                .isEqualTo(400);
        HttpResponse<String> order = send("GET", "/v1/dead-letters?order=latest", null);
        assertThat(order.statusCode()).isEqualTo(400);
        assertThat(JSON.readTree(order.body()).get("detail").asText()).contains("newest or oldest");
        assertThat(send("POST", "/v1/dead-letters/reprocess", "[1]").statusCode())
                .isEqualTo(400);
        assertThat(send("POST", "/v1/dead-letters/reprocess", "{\"limit\":0}").statusCode())
                .isEqualTo(400);
        assertThat(send("POST", "/v1/dead-letters/reprocess", "{\"dryRun\":\"yes\"}")
                        .statusCode())
                .isEqualTo(400);
        assertThat(send("POST", "/v1/dead-letters/reprocess", "{\"tyep\":\"order.*\"}")
                        .statusCode())
                .isEqualTo(400);
        assertThat(send("GET", "/v1/dead-letters?olderThan=400000000000d", null).statusCode())
                .isEqualTo(400);
        assertThat(send("GET", "/v1/dead-letters?olderThan=200000000000000d", null)
                        .statusCode())
                .isEqualTo(400);
    }
}
