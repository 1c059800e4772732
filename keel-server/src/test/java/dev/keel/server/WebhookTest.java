package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Webhook subscriptions over HTTP, delivering to a real local receiver that misbehaves on purpose. */
class WebhookTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SECRET = "whsec_" + Base64.getEncoder().encodeToString(new byte[32]);
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;
    private Requests requests;
    private Receiver receiver;

    @BeforeEach
    void start() throws Exception {
        receiver = new Receiver();
        startServer(List.of());
    }

    private void startServer(List<AccessToken> tokens) {
        startServer(tokens, true);
    }

    private void startServer(List<AccessToken> tokens, boolean allowPrivateTargets) {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(tokens)
                .allowPrivateWebhookTargets(allowPrivateTargets)
                .subscriptionsFile(dir.resolve("subscriptions.json"))
                .build()
                .start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        server.close();
        receiver.close();
    }

    private JsonNode ok(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return r.body().isEmpty() ? null : JSON.readTree(r.body());
    }

    private HttpResponse<String> put(String name, String body, String... headers) throws Exception {
        return requests.send("PUT", "/v1/subscriptions/" + name, "application/json", body, headers);
    }

    private String hook(String extra) {
        return "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\",\"secret\":\"" + SECRET + "\"}"
                + extra + "}";
    }

    private void emit(String id, String key) throws Exception {
        ok(
                requests.send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"" + id
                                + "\",\"source\":\"/shop\",\"type\":\"order.created\"," + "\"partitionkey\":\"" + key
                                + "\",\"data\":{\"n\":\"" + id + "\"}}"),
                202);
    }

    private long deadLetters() throws Exception {
        return ok(requests.send("GET", "/v1/dead-letters", null, null), 200)
                .get("items")
                .size();
    }

    @Test
    void shouldDeliverSignedCloudEventsFromCreationOn() throws Exception {
        emit("before", "k"); // emitted before the subscription exists: not delivered
        JsonNode created = ok(put("billing", hook("")), 201);
        assertThat(created.at("/webhook/secret").asText()).isEqualTo(SECRET);
        emit("e1", "k");

        await().atMost(WAIT).until(() -> receiver.calls().size() == 1);
        Receiver.Call call = receiver.calls().getFirst();
        // Verified from the receiver's side, as a receiver library would: HMAC-SHA256 over id.timestamp.body.
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(Base64.getDecoder().decode(SECRET.substring(6)), "HmacSHA256"));
        String signed = call.header("webhook-id") + "." + call.header("webhook-timestamp") + "." + call.body();
        String expected =
                "v1," + Base64.getEncoder().encodeToString(mac.doFinal(signed.getBytes(StandardCharsets.UTF_8)));
        assertThat(call.header("webhook-signature")).isEqualTo(expected);
        assertThat(Long.parseLong(call.header("webhook-timestamp")))
                .isCloseTo(System.currentTimeMillis() / 1000, org.assertj.core.data.Offset.offset(60L));
        assertThat(call.header("content-type")).isEqualTo("application/cloudevents+json");
        JsonNode event = JSON.readTree(call.body());
        assertThat(event.get("id").asText()).isEqualTo("e1");
        assertThat(event.get("type").asText()).isEqualTo("order.created");
        assertThat(event.at("/data/n").asText()).isEqualTo("e1");
        assertThat(receiver.calls()).noneMatch(c -> c.body().contains("\"before\""));
    }

    @Test
    void shouldRetryServerErrorsWithTheSameWebhookIdAndDeadLetterPermanentOnes() throws Exception {
        ok(put("billing", hook(",\"retry\":{\"maxAttempts\":4,\"initialDelay\":\"20ms\",\"jitter\":0}")), 201);
        receiver.behave((exchange, body) -> {
            String text = new String(body, StandardCharsets.UTF_8);
            long seen =
                    receiver.calls().stream().filter(c -> c.body().equals(text)).count();
            if (text.contains("\"flaky\"") && seen < 3) {
                Receiver.respond(exchange, 503, "busy");
            } else if (text.contains("\"gone\"")) {
                Receiver.respond(exchange, 410, "this endpoint is gone");
            } else {
                Receiver.respond(exchange, 200, "ok");
            }
        });
        emit("flaky", "a");
        emit("gone", "b");

        await().atMost(WAIT).until(() -> deadLetters() == 1 && calls("flaky").size() == 3);
        List<Receiver.Call> flaky = calls("flaky");
        assertThat(flaky)
                .extracting(c -> c.header("webhook-id"))
                .containsOnly(flaky.getFirst().header("webhook-id"));
        assertThat(calls("gone")).hasSize(1); // 410 is permanent: one attempt, then the dead letters
        JsonNode dead = ok(requests.send("GET", "/v1/dead-letters", null, null), 200)
                .get("items")
                .get(0);
        assertThat(dead.get("eventId").asText()).isEqualTo("gone");
        JsonNode full =
                ok(requests.send("GET", "/v1/dead-letters/" + dead.get("id").asText(), null, null), 200);
        assertThat(full.toString()).contains("HTTP 410").contains("this endpoint is gone");
        // The flaky event was delivered on its third attempt and is not a dead letter.
        assertThat(deadLetters()).isEqualTo(1);
    }

    @Test
    void shouldHonourRetryAfterAndRetryTimeoutsAndDroppedConnections() throws Exception {
        java.util.concurrent.CountDownLatch retriedSlow = new java.util.concurrent.CountDownLatch(1);
        ok(
                put(
                        "billing",
                        hook(
                                ",\"timeout\":\"300ms\",\"retry\":{\"maxAttempts\":3,\"initialDelay\":\"10ms\",\"jitter\":0}")),
                201);
        receiver.behave((exchange, body) -> {
            String text = new String(body, StandardCharsets.UTF_8);
            long seen =
                    receiver.calls().stream().filter(c -> c.body().equals(text)).count();
            if (text.contains("\"limited\"") && seen == 1) {
                Receiver.respond(exchange, 429, "slow down", "Retry-After", "1");
            } else if (text.contains("\"slow\"") && seen == 1) {
                // Answers only once the sender gave up on this attempt (past the 300 ms timeout) and retried.
                retriedSlow.await(10, java.util.concurrent.TimeUnit.SECONDS);
                Receiver.respond(exchange, 200, "too late");
            } else if (text.contains("\"slow\"")) {
                retriedSlow.countDown();
                Receiver.respond(exchange, 200, "ok");
            } else if (text.contains("\"dropped\"") && seen == 1) {
                throw new java.io.IOException("connection dropped on purpose");
            } else {
                Receiver.respond(exchange, 200, "ok");
            }
        });
        emit("limited", "a");
        emit("slow", "b");
        emit("dropped", "c");

        await().atMost(WAIT)
                .until(() -> calls("limited").size() == 2
                        && calls("slow").size() == 2
                        && calls("dropped").size() == 2);
        List<Receiver.Call> limited = calls("limited");
        // Without Retry-After the retry would follow after 10 ms; the receiver asked for a second.
        assertThat(Duration.ofNanos(limited.get(1).atNanos() - limited.get(0).atNanos()))
                .isGreaterThanOrEqualTo(Duration.ofMillis(900));
        assertThat(deadLetters()).isZero();
    }

    @Test
    void shouldPauseWhileTheReceiverIsDownWithoutUsingUpAttempts() throws Exception {
        ok(
                put(
                        "billing",
                        hook(
                                ",\"retry\":{\"maxAttempts\":3,\"initialDelay\":\"20ms\",\"jitter\":0},"
                                        + "\"circuitBreaker\":{\"failureRate\":50,\"minimumCalls\":2,\"window\":2,\"openFor\":\"300ms\"}")),
                201);
        receiver.down();
        for (int i = 0; i < 20; i++) {
            emit("e" + i, "k" + i);
        }
        // Open, or half-open between probes that keep failing.
        await().atMost(WAIT).until(() -> !"closed"
                .equals(ok(requests.send("GET", "/v1/subscriptions/billing", null, null), 200)
                        .get("circuit")
                        .asText()));
        // Down for longer than three attempts with 20 ms backoff would last: an open circuit pauses instead.
        await().during(Duration.ofMillis(1_500)).atMost(WAIT).until(() -> deadLetters() == 0);
        assertThat(deadLetters()).isZero();
        receiver.up();

        await().atMost(WAIT)
                .until(() -> receiver.calls().stream()
                                .map(c -> c.body())
                                .filter(b -> b.contains("\"order.created\""))
                                .map(b -> {
                                    try {
                                        return JSON.readTree(b).get("id").asText();
                                    } catch (Exception e) {
                                        throw new IllegalStateException(e);
                                    }
                                })
                                .collect(Collectors.toSet())
                                .size()
                        == 20);
        assertThat(deadLetters()).isZero();
    }

    @Test
    void shouldListShowReplaceAndDeleteSubscriptions() throws Exception {
        JsonNode created =
                ok(put("billing", "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"}}"), 201);
        String generated = created.at("/webhook/secret").asText();
        assertThat(generated).startsWith("whsec_");
        assertThat(Base64.getDecoder().decode(generated.substring(6))).hasSize(32);

        JsonNode shown = ok(requests.send("GET", "/v1/subscriptions/billing", null, null), 200);
        assertThat(shown.at("/webhook/secret").asText()).doesNotContain(generated.substring(12));
        assertThat(shown.get("ordering").asText()).isEqualTo("per-key");
        assertThat(shown.get("circuit").asText()).isEqualTo("closed");
        assertThat(shown.at("/retry/maxAttempts").asInt()).isEqualTo(8);

        JsonNode replaced = ok(
                put(
                        "billing",
                        "{\"types\":[\"order.paid\"],\"webhook\":{\"url\":\"" + receiver.url()
                                + "\"},\"ordering\":\"strict\",\"timeout\":\"2s\",\"rateLimit\":50}"),
                200);
        assertThat(replaced.get("deliveryName").asText())
                .isEqualTo(created.get("deliveryName").asText());
        assertThat(replaced.get("ordering").asText()).isEqualTo("strict");
        assertThat(replaced.get("timeout").asText()).isEqualTo("PT2S");
        emit("not-paid", "k"); // order.created no longer matches
        ok(put("other", hook("")), 201);
        emit("e2", "k");
        await().atMost(WAIT).until(() -> calls("e2").size() == 1);
        assertThat(calls("not-paid")).isEmpty(); // billing no longer matches it, and "other" came after it
        // The secret was kept when the replacement gave none.
        assertThat(ok(requests.send("GET", "/v1/subscriptions/billing", null, null), 200)
                        .at("/webhook/secret")
                        .asText())
                .isEqualTo(generated.substring(0, 10) + "…");

        JsonNode list = ok(requests.send("GET", "/v1/subscriptions", null, null), 200);
        assertThat(list.get("items")).extracting(n -> n.get("name").asText()).containsExactly("billing", "other");
        ok(requests.send("DELETE", "/v1/subscriptions/billing", null, null), 204);
        ok(requests.send("GET", "/v1/subscriptions/billing", null, null), 404);
        ok(requests.send("DELETE", "/v1/subscriptions/billing", null, null), 404);
    }

    @Test
    void shouldRejectInvalidSubscriptionsAndChangeNothing() throws Exception {
        Map<String, String> bad = Map.of(
                "{\"types\":[\"order.*\"]}", "'webhook' is missing",
                "{\"types\":[],\"webhook\":{\"url\":\"http://x\"}}", "'types' must be a non-empty array",
                "{\"types\":[\"order..x\"],\"webhook\":{\"url\":\"http://x\"}}", "invalid segment",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"ftp://x\"}}", "absolute http or https URL",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://x\",\"secret\":\"abc\"}}", "must start with 'whsec_'",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://x\"},\"timeout\":\"soon\"}",
                        "'timeout': 'soon' is not a duration",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://x\"},\"ordering\":\"random\"}",
                        "per-key, strict or none",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://x\"},\"retry\":{\"maxAttempts\":0}}",
                        "retry.maxAttempts",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://x\"},\"colour\":\"red\"}", "unknown field 'colour'",
                "[1,2]", "send a JSON object");
        for (Map.Entry<String, String> e : bad.entrySet()) {
            HttpResponse<String> r = put("billing", e.getKey());
            assertThat(r.statusCode()).as(e.getKey()).isEqualTo(400);
            assertThat(r.headers().firstValue("Content-Type")).hasValue(Problem.MEDIA_TYPE);
            assertThat(JSON.readTree(r.body()).get("detail").asText())
                    .as(e.getKey())
                    .contains(e.getValue());
        }
        assertThat(put("billing", "{not json").statusCode()).isEqualTo(400);
        assertThat(put("bad%20name", hook("")).statusCode()).isEqualTo(400);
        assertThat(ok(requests.send("GET", "/v1/subscriptions", null, null), 200)
                        .get("items"))
                .isEmpty();
        assertThat(keel.subscriptions()).isEmpty();
    }

    @Test
    void shouldKeepSubscriptionsAcrossRestartsAndRefuseToChangeDeclaredOnes() throws Exception {
        ok(put("billing", hook("")), 201);
        server.close();

        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel)
                .port(0)
                .subscriptionsFile(dir.resolve("subscriptions.json"))
                .subscription(
                        "audit",
                        null,
                        Map.of("types", List.of("**"), "webhook", Map.of("url", receiver.url(), "secret", SECRET)))
                .build()
                .start();
        requests = new Requests(server);
        JsonNode list = ok(requests.send("GET", "/v1/subscriptions", null, null), 200);
        assertThat(list.get("items"))
                .extracting(n -> n.get("name").asText())
                .containsExactlyInAnyOrder("billing", "audit");
        emit("after-restart", "k");
        await().atMost(WAIT).until(() -> calls("after-restart").size() == 2); // billing and audit

        HttpResponse<String> refused = put("audit", hook(""));
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(refused.body()).contains("configuration file");
        assertThat(requests.send("DELETE", "/v1/subscriptions/audit", null, null)
                        .statusCode())
                .isEqualTo(409);
    }

    @Test
    void shouldKeepTenantsApart() throws Exception {
        server.close();
        String acme = "acme-token-0123456789";
        String globex = "globex-token-0123456789";
        startServer(List.of(
                new AccessToken(acme, "acme", Set.of(AccessToken.Scope.ADMIN, AccessToken.Scope.PRODUCE)),
                new AccessToken(globex, "globex", Set.of(AccessToken.Scope.ADMIN, AccessToken.Scope.PRODUCE))));
        ok(put("billing", hook(""), "Authorization", "Bearer " + acme), 201);
        assertThat(requests.send("GET", "/v1/subscriptions/billing", null, null, "Authorization", "Bearer " + globex)
                        .statusCode())
                .isEqualTo(404);
        assertThat(ok(requests.send("GET", "/v1/subscriptions", null, null, "Authorization", "Bearer " + globex), 200)
                        .get("items"))
                .isEmpty();
        for (String[] t : new String[][] {{globex, "from-globex"}, {acme, "from-acme"}}) {
            ok(
                    requests.send(
                            "POST",
                            "/v1/events",
                            CloudEventReader.STRUCTURED,
                            "{\"specversion\":\"1.0\",\"id\":\"" + t[1]
                                    + "\",\"source\":\"/s\",\"type\":\"order.created\",\"data\":{}}",
                            "Authorization",
                            "Bearer " + t[0]),
                    202);
        }
        await().atMost(WAIT).until(() -> calls("from-acme").size() == 1);
        assertThat(calls("from-globex")).isEmpty();
        assertThat(requests.send("PUT", "/v1/subscriptions/x", "application/json", hook(""))
                        .statusCode())
                .isEqualTo(401);
    }

    @Test
    void shouldNotHoldUpOtherSubscriptionsWhileOneWaitsForItsDeliveriesInFlight() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        receiver.behave((exchange, body) -> {
            if (new String(body, StandardCharsets.UTF_8).contains("\"hang\"")) {
                release.await(); // a receiver that does not answer
            }
            Receiver.respond(exchange, 204, "");
        });
        ok(put("slow", hook(",\"timeout\":\"1m\"")), 201);
        emit("hang", "k");
        await().atMost(WAIT).until(() -> calls("hang").size() == 1);
        // Replacing "slow" waits for its delivery in flight...
        var replacing = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return put("slow", hook(",\"timeout\":\"2s\"")).statusCode();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await().during(Duration.ofMillis(300)).atMost(WAIT).until(() -> !replacing.isDone());
        // ...while other subscriptions are created and listed.
        ok(put("other", hook("")), 201);
        assertThat(ok(requests.send("GET", "/v1/subscriptions", null, null), 200)
                        .get("items"))
                .hasSize(2);
        assertThat(replacing).isNotDone();
        release.countDown();
        assertThat(replacing.get(30, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(200);
    }

    @Test
    void shouldRefusePrivateTargetsWhenTenantsShareTheServer() throws Exception {
        server.close();
        String acme = "acme-token-0123456789";
        startServer(List.of(new AccessToken(acme, "Acme Corp", Set.of(AccessToken.Scope.ADMIN))), false);
        HttpResponse<String> refused = put("billing", hook(""), "Authorization", "Bearer " + acme);
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("127.0.0.1").contains("private");
        HttpResponse<String> metadata = put(
                "billing",
                "{\"types\":[\"a\"],\"webhook\":{\"url\":\"http://169.254.169.254/latest\"}}",
                "Authorization",
                "Bearer " + acme);
        assertThat(metadata.statusCode()).isEqualTo(400);
        assertThat(keel.subscriptions()).isEmpty();
        assertThat(dir.resolve("subscriptions.json")).doesNotExist();
        // A tenant name that cannot be part of a runtime subscription's name still gets a subscription.
        server.close();
        startServer(List.of(new AccessToken(acme, "Acme Corp", Set.of(AccessToken.Scope.ADMIN))), true);
        ok(put("billing", hook(""), "Authorization", "Bearer " + acme), 201);
        assertThat(keel.subscriptions()).singleElement().satisfies(s -> assertThat(s.tenant())
                .isEqualTo("Acme Corp"));
    }

    private List<Receiver.Call> calls(String eventId) {
        return receiver.calls().stream()
                .filter(c -> c.body().contains("\"id\":\"" + eventId + "\""))
                .toList();
    }
}
