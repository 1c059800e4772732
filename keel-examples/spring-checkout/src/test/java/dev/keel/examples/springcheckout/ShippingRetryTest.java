package dev.keel.examples.springcheckout;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.spring.test.KeelTest;
import dev.keel.test.TestClock;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Shipping's retry, step by step: Keel on the memory engine with a test clock, delivering only when the test calls
 * {@code keel.process()}. The annotation's backoff holds (the first retry 2 s after the failure, give or take a
 * fifth); no waiting for real time.
 */
@KeelTest
class ShippingRetryTest {
    @TempDir
    static Path dir;

    @DynamicPropertySource
    static void database(DynamicPropertyRegistry registry) {
        registry.add("spring.datasource.url", () -> "jdbc:sqlite:" + dir.resolve("checkout.db"));
    }

    @Autowired
    OrderService orders;

    @Autowired
    JdbcClient jdbc;

    @Autowired
    Keel keel;

    @Autowired
    TestClock clock;

    @Test
    void aShipmentWaitsForTheAddressAndGoesOutOnTheRetryAfterItIsGiven() {
        jdbc.sql("INSERT INTO customers (id, name, address) VALUES ('grace', 'Grace Hopper', NULL)")
                .update();
        String id = orders.place(new PlaceOrder("grace", "kettle", 1)).orderId();

        keel.process(); // the payment, then shipping's first attempt, which fails
        assertThat(count("SELECT COUNT(*) FROM payments WHERE order_id = ?", id))
                .isOne();
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isZero();
        assertThat(keel.stats().subscription("shipping").retriesScheduled()).isOne();

        jdbc.sql("UPDATE customers SET address = '1 Navy Way, Arlington' WHERE id = 'grace'")
                .update();
        clock.advance(Duration.ofSeconds(1));
        keel.process(); // the retry is not due yet
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isZero();

        clock.advance(Duration.ofSeconds(2));
        keel.process(); // the retry, with the address
        assertThat(count("SELECT COUNT(*) FROM shipments WHERE order_id = ?", id))
                .isOne();
        assertThat(count("SELECT COUNT(*) FROM payments WHERE order_id = ?", id))
                .isOne();
        assertThat(keel.deadLetters().count("shipping")).isZero();
    }

    private long count(String sql, Object... params) {
        return jdbc.sql(sql).params(params).query(Long.class).single();
    }
}
