package dev.keel.examples.springcheckout;

import dev.keel.spring.KeelListener;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.annotation.Transactional;

/**
 * Ships each paid order to its customer's address. While the customer has none, the attempt fails and is retried
 * with backoff (the customer may add one meanwhile); when the attempts run out the event is dead-lettered, and an
 * operator reprocesses it once the address is known ({@code POST /actuator/deadletters/{id}}).
 */
@Component
public class Shipping {
    private final JdbcClient jdbc;

    public Shipping(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    @Transactional
    @KeelListener(
            subscription = "shipping",
            types = PaymentCaptured.TYPE,
            maxAttempts = 5,
            initialDelay = "2s",
            maxDelay = "1m")
    public void ship(PaymentCaptured payment) {
        String address = jdbc.sql("SELECT address FROM customers WHERE id = ? AND address IS NOT NULL")
                .param(payment.customerId())
                .query(String.class)
                .optional()
                .orElseThrow(() -> new MissingAddressException(payment.customerId(), payment.orderId()));
        jdbc.sql("INSERT INTO shipments (id, order_id, address) VALUES (?, ?, ?)")
                .params(UUID.randomUUID().toString(), payment.orderId(), address)
                .update();
    }
}
