package dev.keel.examples.springcheckout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.SubscriptionStats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.test.annotation.DirtiesContext;
import tools.jackson.databind.JsonNode;

/**
 * The checkout over real HTTP on a real database, the same on each: a subclass says which database. Shipping
 * retries fast here (three attempts, 20 to 50 ms apart) so that a dead letter comes quickly.
 */
@SpringBootTest(
        webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
        properties = {
            "keel.subscriptions.shipping.max-attempts=3",
            "keel.subscriptions.shipping.initial-delay=20ms",
            "keel.subscriptions.shipping.max-delay=50ms",
            "keel.outbox.poll-interval=50ms"
        })
// Closes the application (and Keel, which drains) at the end of the class, before its database goes away.
@DirtiesContext(classMode = DirtiesContext.ClassMode.AFTER_CLASS)
abstract class CheckoutContract {
    @LocalServerPort
    int port;

    @Autowired
    JdbcClient jdbc;

    @Autowired
    Keel keel;

    Http http;

    @BeforeEach
    void client() {
        http = new Http(port);
    }

    @Test
    void anOrderPlacedOverHttpIsPaidOnceAndShipped() {
        Http.Answer placed = http.post("/orders", """
                {"customer": "ada", "sku": "kettle", "quantity": 2}""");

        assertThat(placed.status()).isEqualTo(201);
        String id = placed.body().get("id").asString();
        assertThat(placed.location()).isEqualTo("/orders/" + id);
        assertThat(placed.body().get("amountCents").asLong()).isEqualTo(7800);

        eventually().until(() -> count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id) == 1);
        awaitSettled();
        assertThat(count("SELECT COUNT(*) FROM payments WHERE order_id = ?", id))
                .isOne();
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isOne();

        JsonNode order = http.get("/orders/" + id).body();
        assertThat(order.get("customer").asString()).isEqualTo("ada");
        assertThat(order.get("paid").asBoolean()).isTrue();
        assertThat(order.get("shipped").asBoolean()).isTrue();
    }

    @Test
    void ordersPlacedAtOnceAreEachPaidAndShippedOnce() throws Exception {
        String customer = "c-" + UUID.randomUUID();
        jdbc.sql("INSERT INTO customers (id, name, address) VALUES (?, 'Edsger Dijkstra', 'Nuenen')")
                .param(customer)
                .update();
        int orders = 24;

        List<Integer> statuses;
        try (ExecutorService clients = Executors.newFixedThreadPool(6)) {
            List<Future<Http.Answer>> answers = new ArrayList<>();
            for (int i = 0; i < orders; i++) {
                answers.add(clients.submit(() -> http.post("/orders", """
                        {"customer": "%s", "sku": "kettle", "quantity": 1}""".formatted(customer))));
            }
            statuses = new ArrayList<>();
            for (Future<Http.Answer> answer : answers) {
                statuses.add(answer.get().status());
            }
        }

        assertThat(statuses).containsOnly(201).hasSize(orders);
        String shipped = "SELECT COUNT(*) FROM shipments s JOIN orders o ON o.id = s.order_id WHERE o.customer_id = ?";
        eventually().until(() -> count(shipped, customer) == orders);
        awaitSettled();
        assertThat(count(shipped, customer)).isEqualTo(orders);
        assertThat(count(
                        "SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.customer_id = ?",
                        customer))
                .isEqualTo(orders);
        assertThat(count("""
                        SELECT COUNT(DISTINCT p.order_id) FROM payments p JOIN orders o ON o.id = p.order_id
                        WHERE o.customer_id = ?""", customer)).isEqualTo(orders);
    }

    @Test
    void anOrderThatRollsBackLeavesNeitherItsRowNorItsEvent() {
        String sku = "rare-" + UUID.randomUUID();
        jdbc.sql("INSERT INTO products (sku, name, price_cents, stock) VALUES (?, 'Rare teapot', 10000, 1)")
                .param(sku)
                .update();
        awaitSettled();
        SubscriptionStats before = stats("payments");

        // The order row and its event are written before the stock runs short; the exception rolls back all.
        Http.Answer refused = http.post("/orders", """
                {"customer": "ada", "sku": "%s", "quantity": 2}""".formatted(sku));

        assertThat(refused.status()).isEqualTo(409);
        assertThat(refused.contentType()).startsWith("application/problem+json");
        assertThat(refused.body().get("detail").asString()).isEqualTo("only 1 of '" + sku + "' left, 2 asked for");
        assertThat(count("SELECT COUNT(*) FROM orders WHERE sku = ?", sku)).isZero();
        assertThat(count("SELECT COUNT(*) FROM keel_outbox")).isZero();

        // An order that fits goes through after it, and is the only one the payments listener sees.
        Http.Answer placed = http.post("/orders", """
                {"customer": "ada", "sku": "%s", "quantity": 1}""".formatted(sku));
        assertThat(placed.status()).isEqualTo(201);
        String id = placed.body().get("id").asString();
        eventually().until(() -> count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id) == 1);
        awaitSettled();
        // The payments listener saw one event since, and it succeeded: had the refused order's event reached the
        // log, it would have been one more (or a failed attempt, as its order row is gone).
        SubscriptionStats after = stats("payments");
        assertThat(after.delivered()).isEqualTo(before.delivered() + 1);
        assertThat(after.failedAttempts()).isEqualTo(before.failedAttempts());
        assertThat(after.deadLettered()).isEqualTo(before.deadLettered());
        assertThat(count("SELECT COUNT(*) FROM orders WHERE sku = ?", sku)).isOne();
        assertThat(count("SELECT COUNT(*) FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.sku = ?", sku))
                .isOne();
        assertThat(count("SELECT stock FROM products WHERE sku = ?", sku)).isZero();
    }

    @Test
    void badInputIsAnsweredWithAProblemDetail() {
        Http.Answer incomplete = http.post("/orders", """
                {"customer": " ", "quantity": 0}""");

        assertThat(incomplete.status()).isEqualTo(400);
        assertThat(incomplete.contentType()).startsWith("application/problem+json");
        assertThat(incomplete.body().get("title").asString()).isEqualTo("Invalid order");
        assertThat(incomplete.body().get("detail").asString())
                .isEqualTo("customer is required; sku is required; quantity must be between 1 and 100, but was 0");
        assertThat(incomplete.body().get("errors").get("sku").asString()).isEqualTo("is required");

        Http.Answer unknown = http.post("/orders", """
                {"customer": "ada", "sku": "samovar", "quantity": 1}""");
        assertThat(unknown.status()).isEqualTo(400);
        assertThat(unknown.body().get("detail").asString()).isEqualTo("sku 'samovar' is not a product");

        Http.Answer notJson = http.post("/orders", "{\"customer\": ");
        assertThat(notJson.status()).isEqualTo(400);
        assertThat(notJson.contentType()).startsWith("application/problem+json");

        String nobody = UUID.randomUUID().toString();
        Http.Answer missing = http.get("/orders/" + nobody);
        assertThat(missing.status()).isEqualTo(404);
        assertThat(missing.contentType()).startsWith("application/problem+json");
        assertThat(missing.body().get("detail").asString()).isEqualTo("no order '" + nobody + "'");

        Http.Answer noAddress = http.put("/customers/ada/address", """
                {"address": ""}""");
        assertThat(noAddress.status()).isEqualTo(400);
        assertThat(noAddress.body().get("detail").asString()).isEqualTo("address is required");
        assertThat(http.put("/customers/" + nobody + "/address", """
                        {"address": "Nowhere"}""").status()).isEqualTo(404);
    }

    @Test
    void aShipmentWithoutAddressIsDeadLetteredAndReprocessedOnceTheAddressIsKnown() {
        String customer = "c-" + UUID.randomUUID();
        jdbc.sql("INSERT INTO customers (id, name, address) VALUES (?, 'Grace Hopper', NULL)")
                .param(customer)
                .update();

        Http.Answer placed = http.post("/orders", """
                {"customer": "%s", "sku": "kettle", "quantity": 1}""".formatted(customer));
        assertThat(placed.status()).isEqualTo(201);
        String id = placed.body().get("id").asString();

        String deadLetters = "/actuator/deadletters?subscription=shipping&key=" + id;
        JsonNode deadLetter = eventually()
                .until(() -> http.get(deadLetters).body().get("deadLetters"), list -> list.size() == 1)
                .get(0);
        assertThat(deadLetter.get("type").asString()).isEqualTo(PaymentCaptured.TYPE);
        assertThat(deadLetter.get("key").asString()).isEqualTo(id);
        assertThat(deadLetter.get("reason").asString()).contains("customer '" + customer + "' has no shipping address");
        assertThat(deadLetter.get("errors")).hasSize(3);
        assertThat(deadLetter.get("data").get("orderId").asString()).isEqualTo(id);
        assertThat(count("SELECT COUNT(*) FROM payments WHERE order_id = ?", id))
                .isOne();
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isZero();

        // The cause is fixed, then an operator sends the event back to shipping.
        Http.Answer address = http.put("/customers/" + customer + "/address", """
                {"address": "1 Navy Way, Arlington"}""");
        assertThat(address.status()).isEqualTo(204);
        String deadLetterId = deadLetter.get("id").asString();
        Http.Answer reprocessed = http.post("/actuator/deadletters/" + deadLetterId);

        assertThat(reprocessed.status()).isEqualTo(200);
        assertThat(reprocessed.body().get("sent").asBoolean()).isTrue();
        eventually().until(() -> count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id) == 1);
        awaitSettled();
        assertThat(http.get(deadLetters).body().get("deadLetters")).isEmpty();
        assertThat(http.get("/actuator/deadletters/" + deadLetterId).status()).isEqualTo(404);
        // Sent back already: a second reprocess finds nothing to send.
        Http.Answer again = http.post("/actuator/deadletters/" + deadLetterId);
        assertThat(again.status()).isEqualTo(404);
        assertThat(again.body().get("sent").asBoolean()).isFalse();
        assertThat(count("SELECT COUNT(*) FROM payments WHERE order_id = ?", id))
                .isOne();
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isOne();
    }

    @Test
    void healthShowsKeelUp() {
        Http.Answer health = http.get("/actuator/health");

        assertThat(health.status()).isEqualTo(200);
        assertThat(health.body().get("status").asString()).isEqualTo("UP");
        JsonNode keelHealth = health.body().get("components").get("keel");
        assertThat(keelHealth.get("status").asString()).isEqualTo("UP");
        // Keel shares the application's database: its outbox relays what the application's transactions commit.
        JsonNode outbox = keelHealth.get("details").get("components").get("outbox");
        assertThat(outbox.get("status").asString()).isEqualTo("healthy");
        assertThat(outbox.get("relaying").asBoolean()).isTrue();
    }

    /** Waits until Keel has nothing left to do: the outbox relayed, every event handled or dead-lettered. */
    void awaitSettled() {
        eventually().untilAsserted(() -> {
            assertThat(count("SELECT COUNT(*) FROM keel_outbox")).isZero();
            for (String subscription : List.of("payments", "shipping")) {
                SubscriptionStats s = stats(subscription);
                assertThat(s.lag()).as("%s lag", subscription).isZero();
                assertThat(s.pendingDue()).as("%s retries due", subscription).isZero();
            }
        });
    }

    SubscriptionStats stats(String subscription) {
        return keel.stats().subscription(subscription);
    }

    long count(String sql, Object... params) {
        return jdbc.sql(sql).params(params).query(Long.class).single();
    }

    static ConditionFactory eventually() {
        return await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(20));
    }
}
