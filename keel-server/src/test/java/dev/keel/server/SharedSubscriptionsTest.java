package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.jdbc.PostgresServer;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two servers on one PostgreSQL run the same webhook subscriptions: one created, replaced or deleted over
 * HTTP on either is run, changed or stopped on both, and its secret is never shown again after creation.
 */
class SharedSubscriptionsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(20);

    private static PostgresServer postgres;

    private Receiver receiver;
    private KeelServer a;
    private KeelServer b;

    @BeforeAll
    static void startPostgres() throws Exception {
        postgres = PostgresServer.start();
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        postgres.close();
    }

    private static KeelServer server(String url) {
        Keel keel = Keel.builder()
                .lanes(4)
                .leaseDuration(Duration.ofMillis(800))
                .journal(JdbcJournal.postgres(url, postgres.user(), null))
                .build();
        KeelServer s = KeelServer.builder(keel)
                .port(0)
                .allowPrivateWebhookTargets(true)
                .build();
        keel.start();
        return s.start();
    }

    @AfterEach
    void stop() {
        for (KeelServer s : new KeelServer[] {a, b}) {
            if (s != null) {
                s.close();
            }
        }
        if (receiver != null) {
            receiver.close();
        }
    }

    private static HttpResponse<String> call(KeelServer s, String method, String path, String body) throws Exception {
        return new Requests(s).send(method, path, body == null ? null : "application/json", body);
    }

    private static void emit(KeelServer s, String id) throws Exception {
        HttpResponse<String> r = new Requests(s)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"" + id
                                + "\",\"source\":\"/shop\",\"type\":\"order.created\"," + "\"partitionkey\":\"" + id
                                + "\",\"data\":{}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }

    private Set<String> received() {
        Set<String> ids = new HashSet<>();
        for (Receiver.Call c : receiver.calls()) {
            try {
                ids.add(JSON.readTree(c.body()).get("id").asText());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        return ids;
    }

    @Test
    void shouldRunTheSameSubscriptionsOnEveryInstance() throws Exception {
        String url = postgres.newDatabase();
        receiver = new Receiver();
        a = server(url);
        b = server(url);

        HttpResponse<String> created = call(
                a,
                "PUT",
                "/v1/subscriptions/ledger",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"}}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        String secret = JSON.readTree(created.body()).at("/webhook/secret").asText();
        assertThat(secret).startsWith("whsec_").doesNotContain("…");

        // B runs it too, and never shows the secret again.
        JsonNode onB = await().atMost(WAIT)
                .until(
                        () -> {
                            HttpResponse<String> r = call(b, "GET", "/v1/subscriptions/ledger", null);
                            return r.statusCode() == 200 ? JSON.readTree(r.body()) : null;
                        },
                        n -> n != null);
        assertThat(onB.at("/webhook/secret").asText()).endsWith("…").isNotEqualTo(secret);
        assertThat(onB.at("/webhook/url").asText()).isEqualTo(receiver.url());

        for (int i = 0; i < 20; i++) {
            emit(i % 2 == 0 ? a : b, "e-" + i);
        }
        await().atMost(WAIT).until(() -> received().size() == 20);

        // Replaced on B: A runs the new version (its types now leave order.created out).
        HttpResponse<String> replaced = call(
                b,
                "PUT",
                "/v1/subscriptions/ledger",
                "{\"types\":[\"invoice.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"}}");
        assertThat(replaced.statusCode()).as(replaced.body()).isEqualTo(200);
        assertThat(JSON.readTree(replaced.body()).at("/webhook/secret").asText())
                .endsWith("…");
        await().atMost(WAIT).until(() -> JSON.readTree(
                        call(a, "GET", "/v1/subscriptions/ledger", null).body())
                .at("/types/0")
                .asText()
                .equals("invoice.*"));

        // Deleted on A: gone from B.
        assertThat(call(a, "DELETE", "/v1/subscriptions/ledger", null).statusCode())
                .isEqualTo(204);
        await().atMost(WAIT)
                .until(() -> call(b, "GET", "/v1/subscriptions/ledger", null).statusCode() == 404);
        assertThat(JSON.readTree(call(b, "GET", "/v1/subscriptions", null).body())
                        .get("items"))
                .isEmpty();
    }
}
