package dev.keel.examples.springcheckout;

import dev.keel.spring.KeelEvents;
import dev.keel.spring.KeelListener;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Component;
import org.springframework.transaction.annotation.Transactional;

/**
 * Captures the payment of each placed order. {@code @Transactional} on a {@code @KeelListener} joins Keel's
 * delivery transaction: the payment row, the {@code payment.captured} event (written to Keel's outbox) and the
 * record that this subscription handled the event commit together. A failed attempt leaves none of them, and an
 * event handled once is never handled again, so each order gets one payment.
 */
@Component
public class Payments {
    private final JdbcClient jdbc;
    private final KeelEvents events;

    public Payments(JdbcClient jdbc, KeelEvents events) {
        this.jdbc = jdbc;
        this.events = events;
    }

    @Transactional
    @KeelListener(subscription = "payments", types = OrderPlaced.TYPE)
    public void capture(OrderPlaced order) {
        // A real service would call its payment provider here, with the order id as the idempotency key.
        PaymentCaptured payment = new PaymentCaptured(
                UUID.randomUUID().toString(), order.orderId(), order.customerId(), order.amountCents());
        jdbc.sql("INSERT INTO payments (id, order_id, amount_cents) VALUES (?, ?, ?)")
                .params(payment.paymentId(), payment.orderId(), payment.amountCents())
                .update();
        events.emit(PaymentCaptured.TYPE, payment.orderId(), payment);
    }
}
