package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Delivery;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The deliveries running now over HTTP, cancelling one, and the deadline a webhook receives. */
class DeliveryRoutesTest {
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

    private Requests start(Subscription... subscriptions) {
        Keel.Builder b = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2);
        for (Subscription s : subscriptions) {
            b.subscription(s);
        }
        keel = b.build();
        server = KeelServer.builder(keel)
                .port(0)
                .allowPrivateWebhookTargets(true)
                .drainTimeout(Duration.ofSeconds(1))
                .build();
        keel.start();
        server.start();
        return new Requests(server);
    }

    private static void emit(Requests requests, String id) throws Exception {
        HttpResponse<String> r = requests.send(
                "POST",
                "/v1/events",
                "application/cloudevents+json",
                "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/test\",\"type\":\"order.placed\","
                        + "\"partitionkey\":\"order-7\",\"data\":{\"n\":1}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }

    @Test
    void shouldListARunningDeliveryAndCancelItSoItIsRetried() throws Exception {
        List<Delivery<?>> attempts = new CopyOnWriteArrayList<>();
        Requests requests = start(Subscription.builder("ledger")
                .types("order.*")
                .retry(RetryPolicy.builder()
                        .maxAttempts(3)
                        .initialDelay(Duration.ofMillis(10))
                        .jitter(0)
                        .build())
                .handler(Object.class, d -> {
                    attempts.add(d);
                    if (d.attempt() == 1) {
                        new CountDownLatch(1).await(); // hangs until cancelled
                    }
                })
                .build());
        emit(requests, "e-1");
        await().atMost(WAIT)
                .until(() -> JSON.readTree(requests.send("GET", "/v1/deliveries", null, null)
                                        .body())
                                .get("items")
                                .size()
                        == 1);
        JsonNode running = JSON.readTree(
                        requests.send("GET", "/v1/deliveries", null, null).body())
                .at("/items/0");
        String eventId = running.get("eventId").asText();
        assertThat(running.get("subscription").asText()).isEqualTo("ledger");
        assertThat(running.get("type").asText()).isEqualTo("order.placed");
        assertThat(running.get("key").asText()).isEqualTo("order-7");
        assertThat(running.get("attempt").asInt()).isEqualTo(1);
        assertThat(Instant.parse(running.get("deadline").asText())).isAfter(Instant.now());

        HttpResponse<String> missing = requests.send("POST", "/v1/deliveries/ledger/no-such-event/cancel", null, null);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(missing.body()).contains("no delivery of event 'no-such-event'");

        HttpResponse<String> cancelled =
                requests.send("POST", "/v1/deliveries/ledger/" + eventId + "/cancel", null, null);
        assertThat(cancelled.statusCode()).as(cancelled.body()).isEqualTo(202);
        await().atMost(WAIT).until(() -> keel.stats().subscription("ledger").delivered() == 1);
        assertThat(attempts).hasSize(2);
        assertThat(attempts.get(1).errors().getFirst().errorType()).endsWith("DeliveryCancelledException");
        assertThat(JSON.readTree(requests.send("GET", "/v1/deliveries", null, null)
                                .body())
                        .get("items")
                        .size())
                .isZero();
    }

    @Test
    void shouldTellAWebhookReceiverWhenItsTimeIsUp() throws Exception {
        receiver = new Receiver();
        Requests requests = start();
        HttpResponse<String> put = requests.send(
                "PUT",
                "/v1/subscriptions/billing",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"},\"timeout\":\"7s\"}");
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
        Instant before = Instant.now();
        emit(requests, "e-2");
        await().atMost(WAIT).until(() -> !receiver.calls().isEmpty());
        Instant deadline = Instant.parse(receiver.calls().getFirst().header("keel-deadline"));
        assertThat(deadline)
                .isAfter(before.plusSeconds(6))
                .isBefore(Instant.now().plusSeconds(8));
    }
}
