package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.AccessToken.Scope;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bearer tokens: 401 without a known one, 403 without the scope, and tenants that never see each other. */
class AuthTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ACME = "acme-token-0123456789";
    private static final String GLOBEX_PRODUCER = "globex-producer-0123456789";
    private static final String GLOBEX_ADMIN = "globex-admin-0123456789";

    @TempDir
    Path dir;

    private final List<Event<?>> delivered = new CopyOnWriteArrayList<>();
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
                    delivered.add(d.event());
                    if (d.event().type().equals("order.failed")) {
                        throw new IllegalStateException("refused");
                    }
                })
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(
                        new AccessToken(ACME, "acme", Set.of(Scope.PRODUCE, Scope.ADMIN)),
                        new AccessToken(GLOBEX_PRODUCER, "globex", Set.of(Scope.PRODUCE)),
                        new AccessToken(GLOBEX_ADMIN, "globex", Set.of(Scope.ADMIN))))
                .build()
                .start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> send(String method, String path, String token, String body) throws Exception {
        return token == null
                ? new Requests(server).send(method, path, "application/cloudevents+json", body)
                : new Requests(server)
                        .send(method, path, "application/cloudevents+json", body, "Authorization", "Bearer " + token);
    }

    private static String event(String id, String type) {
        return "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/s\",\"type\":\"" + type
                + "\",\"tenant\":\"someone-else\",\"data\":1}";
    }

    @Test
    void shouldRefuseMissingUnknownAndUnderScopedTokens() throws Exception {
        HttpResponse<String> none = send("POST", "/v1/events", null, event("n-1", "order.created"));
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.headers().firstValue("WWW-Authenticate")).hasValue("Bearer");
        assertThat(none.headers().firstValue("Content-Type").orElse("")).startsWith(Problem.MEDIA_TYPE);
        assertThat(send("POST", "/v1/events", "wrong-token-0123456789", event("n-2", "order.created"))
                        .statusCode())
                .isEqualTo(401);
        HttpResponse<String> scope = send("GET", "/v1/dead-letters", GLOBEX_PRODUCER, null);
        assertThat(scope.statusCode()).isEqualTo(403);
        assertThat(JSON.readTree(scope.body()).get("detail").asText()).contains("'admin' scope");
        assertThat(send("POST", "/v1/events", GLOBEX_ADMIN, event("n-3", "order.created"))
                        .statusCode())
                .isEqualTo(403);
        assertThat(send("GET", "/v1/stats", null, null).statusCode()).isEqualTo(401);
        assertThat(send("GET", "/health/live", null, null).statusCode()).isEqualTo(200);
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldKeepTenantsApart() throws Exception {
        assertThat(send("POST", "/v1/events", ACME, event("a-1", "order.failed"))
                        .statusCode())
                .isEqualTo(202);
        assertThat(send("POST", "/v1/events", GLOBEX_PRODUCER, event("g-1", "order.failed"))
                        .statusCode())
                .isEqualTo(202);
        await().atMost(Duration.ofSeconds(10)).until(() -> keel.deadLetters().count("ledger") == 2);
        // The tenant comes from the token, whatever the event says.
        assertThat(delivered).extracting(Event::tenant).containsExactlyInAnyOrder("acme", "globex");

        JsonNode acmeView =
                JSON.readTree(send("GET", "/v1/dead-letters", ACME, null).body());
        assertThat(acmeView.get("items")).hasSize(1);
        assertThat(acmeView.get("items").get(0).get("eventId").asText()).isEqualTo("a-1");
        JsonNode globexView = JSON.readTree(
                send("GET", "/v1/dead-letters", GLOBEX_ADMIN, null).body());
        assertThat(globexView.get("items")).hasSize(1);
        String globexId = globexView.get("items").get(0).get("id").asText();

        assertThat(send("GET", "/v1/dead-letters/" + globexId, ACME, null).statusCode())
                .isEqualTo(404);
        assertThat(send("DELETE", "/v1/dead-letters/" + globexId, ACME, null).statusCode())
                .isEqualTo(404);
        assertThat(send("POST", "/v1/dead-letters/" + globexId + "/reprocess", ACME, null)
                        .statusCode())
                .isEqualTo(404);
        JsonNode dry = JSON.readTree(send("POST", "/v1/dead-letters/reprocess", ACME, "{\"dryRun\":true}")
                .body());
        assertThat(dry.get("matched").asInt()).isEqualTo(1);
        assertThat(keel.deadLetters().get(globexId)).isPresent();
        assertThat(send("GET", "/v1/dead-letters/" + globexId, GLOBEX_ADMIN, null)
                        .statusCode())
                .isEqualTo(200);
    }

    @Test
    void shouldKeepIdempotencyKeysAndIdsWithinATenant() throws Exception {
        HttpResponse<String> acme = send("POST", "/v1/events", ACME, event("same-id", "order.created"));
        HttpResponse<String> globex = send("POST", "/v1/events", GLOBEX_PRODUCER, event("same-id", "order.created"));
        assertThat(acme.statusCode()).isEqualTo(202);
        assertThat(JSON.readTree(globex.body()).has("duplicates")).isFalse();
        assertThat(JSON.readTree(send("POST", "/v1/events", GLOBEX_PRODUCER, event("same-id", "order.created"))
                                .body())
                        .has("duplicates"))
                .isTrue(); // within one tenant it is a duplicate
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 2);
        assertThat(delivered).extracting(Event::tenant).containsExactlyInAnyOrder("acme", "globex");
    }

    @Test
    void shouldListenBeyondLoopbackOnlyWithTokens() {
        Keel other = Keel.builder().build();
        try {
            assertThatThrownBy(() -> KeelServer.builder(other).host("0.0.0.0").build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("loopback");
            assertThatThrownBy(() -> new AccessToken("short", "t", Set.of(Scope.ADMIN)))
                    .hasMessageContaining("16 characters");
        } finally {
            other.close();
        }
    }
}
