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
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rotating a webhook's signing secret: both secrets sign each delivery during the overlap, as Standard Webhooks allows,
 * and a receiver holding either one verifies it; after the overlap only the new one signs.
 */
class WebhookSecretRotationTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final String OLD = secret(1);
    private static final String NEW = secret(2);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;
    private Requests requests;
    private Receiver receiver;

    @BeforeEach
    void start() throws Exception {
        receiver = new Receiver();
        startServer();
    }

    private void startServer() {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel).port(0).build().start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        server.close();
        receiver.close();
    }

    private static String secret(int fill) {
        byte[] key = new byte[32];
        Arrays.fill(key, (byte) fill);
        return "whsec_" + Base64.getEncoder().encodeToString(key);
    }

    private JsonNode ok(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }

    private JsonNode create(String webhookExtra) throws Exception {
        return ok(
                requests.send(
                        "PUT",
                        "/v1/subscriptions/orders",
                        "application/json",
                        "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"" + webhookExtra
                                + "}}"),
                201);
    }

    private Receiver.Call deliver(String id) throws Exception {
        String event =
                "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"order.created\"}";
        assertThat(requests.send("POST", "/v1/events", "application/cloudevents+json", event)
                        .statusCode())
                .isEqualTo(202);
        return await().atMost(WAIT)
                .until(
                        () -> receiver.calls().stream()
                                .filter(c -> c.body().contains("\"" + id + "\""))
                                .findFirst()
                                .orElse(null),
                        c -> c != null);
    }

    /** What a receiver does: accepts the request when one of the header's signatures is the one its secret makes. */
    private static boolean verifies(Receiver.Call call, String secret) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(Base64.getDecoder().decode(secret.substring("whsec_".length())), "HmacSHA256"));
        mac.update((call.header("webhook-id") + "." + call.header("webhook-timestamp") + ".")
                .getBytes(StandardCharsets.UTF_8));
        byte[] expected = mac.doFinal(call.body().getBytes(StandardCharsets.UTF_8));
        for (String signature : call.header("webhook-signature").split(" ")) {
            if (signature.startsWith("v1,")
                    && MessageDigest.isEqual(expected, Base64.getDecoder().decode(signature.substring(3)))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void shouldSignWithBothSecretsDuringTheOverlapAndAnswerTheNewSecretOnce() throws Exception {
        create(",\"secret\":\"" + OLD + "\"");

        JsonNode rotated = ok(
                requests.send(
                        "POST", "/v1/subscriptions/orders/rotate-secret", "application/json", "{\"overlap\":\"1h\"}"),
                200);

        String fresh = rotated.get("webhook").get("secret").asText();
        assertThat(fresh).startsWith("whsec_").isNotEqualTo(OLD);
        assertThat(rotated.get("webhook").get("previousSecret").asText())
                .endsWith("…")
                .isNotEqualTo(OLD);
        Instant expires = Instant.parse(
                rotated.get("webhook").get("previousSecretExpiresAt").asText());
        assertThat(expires)
                .isBetween(
                        Instant.now().plus(Duration.ofMinutes(59)),
                        Instant.now().plusSeconds(3600));

        Receiver.Call call = deliver("during-overlap");
        assertThat(call.header("webhook-signature").split(" ")).hasSize(2);
        assertThat(verifies(call, OLD)).as("a receiver still on the old secret").isTrue();
        assertThat(verifies(call, fresh))
                .as("a receiver already on the new secret")
                .isTrue();
        assertThat(verifies(call, secret(3))).as("any other secret").isFalse();

        // Shown once: afterwards both are shortened.
        JsonNode shown = ok(requests.send("GET", "/v1/subscriptions/orders", null, null), 200);
        assertThat(shown.get("webhook").get("secret").asText()).endsWith("…");
        assertThat(shown.get("webhook").get("previousSecret").asText()).endsWith("…");
    }

    @Test
    void shouldSignWithTheNewSecretOnlyOnceThePreviousOneExpired() throws Exception {
        create(",\"secret\":\"" + NEW + "\",\"previousSecret\":\"" + OLD
                + "\",\"previousSecretExpiresAt\":\"2020-01-01T00:00:00Z\"");

        Receiver.Call call = deliver("after-overlap");

        assertThat(call.header("webhook-signature").split(" ")).hasSize(1);
        assertThat(verifies(call, NEW)).isTrue();
        assertThat(verifies(call, OLD)).isFalse();
    }

    @Test
    void shouldKeepBothSecretsInTheJournalAcrossARestart() throws Exception {
        create(",\"secret\":\"" + NEW + "\",\"previousSecret\":\"" + OLD
                + "\",\"previousSecretExpiresAt\":\"2999-01-01T00:00:00Z\"");
        // Stored whole, like the current secret, so that every instance signs alike.
        assertThat(keel.subscriptionStore().list())
                .singleElement()
                .satisfies(s -> assertThat(s.document()).contains(OLD).contains(NEW));

        server.close();
        startServer();

        Receiver.Call call = deliver("after-restart");
        assertThat(verifies(call, OLD)).isTrue();
        assertThat(verifies(call, NEW)).isTrue();
        // A replacement that leaves the secret out keeps both.
        ok(
                requests.send(
                        "PUT",
                        "/v1/subscriptions/orders",
                        "application/json",
                        "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url()
                                + "\"},\"timeout\":\"5s\"}"),
                200);
        Receiver.Call next = deliver("after-replace");
        assertThat(verifies(next, OLD)).isTrue();
        assertThat(verifies(next, NEW)).isTrue();
    }

    @Test
    void shouldTakeAChosenSecretAndRefuseBadRotations() throws Exception {
        create(",\"secret\":\"" + OLD + "\"");

        JsonNode rotated = ok(
                requests.send(
                        "POST",
                        "/v1/subscriptions/orders/rotate-secret",
                        "application/json",
                        "{\"secret\":\"" + NEW + "\"}"),
                200);
        assertThat(rotated.get("webhook").get("secret").asText()).isEqualTo(NEW);
        Instant expires = Instant.parse(
                rotated.get("webhook").get("previousSecretExpiresAt").asText());
        assertThat(expires).isAfter(Instant.now().plus(Duration.ofHours(23)));

        for (String body : List.of(
                "{\"overlap\":\"31d\"}",
                "{\"overlap\":\"soon\"}",
                "{\"secret\":\"nope\"}",
                "{\"overlaps\":\"1h\"}",
                "[]")) {
            HttpResponse<String> r =
                    requests.send("POST", "/v1/subscriptions/orders/rotate-secret", "application/json", body);
            assertThat(r.statusCode()).as(body).isEqualTo(400);
            assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith(Problem.MEDIA_TYPE);
        }
        assertThat(requests.send("POST", "/v1/subscriptions/missing/rotate-secret", "application/json", "{}")
                        .statusCode())
                .isEqualTo(404);
        HttpResponse<String> half = requests.send(
                "PUT",
                "/v1/subscriptions/orders",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\",\"secret\":\"" + NEW
                        + "\",\"previousSecret\":\"" + OLD + "\"}}");
        assertThat(ok(half, 400).get("detail").asText()).contains("previousSecretExpiresAt");
    }
}
