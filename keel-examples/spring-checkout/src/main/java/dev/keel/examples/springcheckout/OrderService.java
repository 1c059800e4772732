package dev.keel.examples.springcheckout;

import dev.keel.spring.KeelEvents;
import java.util.Map;
import java.util.UUID;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** Places orders: the order row, its event and the stock it takes commit together, or none of them does. */
@Service
public class OrderService {
    private static final String INVALID = "Invalid order";

    private final JdbcClient jdbc;
    private final KeelEvents events;

    public OrderService(JdbcClient jdbc, KeelEvents events) {
        this.jdbc = jdbc;
        this.events = events;
    }

    /** An order as {@code GET /orders/{id}} shows it. */
    public record OrderView(
            String id, String customer, String sku, int quantity, long amountCents, boolean paid, boolean shipped) {}

    /**
     * Stores the order and emits {@code order.placed} in the same transaction: the event is written to Keel's
     * outbox table on this transaction's connection, and reaches the listeners only once the transaction commits.
     * The stock is taken last, so that an order the stock cannot cover shows the rollback: the exception undoes
     * the order row and its event with it.
     *
     * @throws InvalidRequestException when the request is incomplete, or names no known customer or product
     * @throws OutOfStockException when fewer items are left than asked for
     */
    @Transactional
    public OrderPlaced place(PlaceOrder request) {
        Map<String, String> problems = request.problems();
        if (!problems.isEmpty()) {
            throw new InvalidRequestException(INVALID, problems);
        }
        if (jdbc.sql("SELECT id FROM customers WHERE id = ?")
                .param(request.customer())
                .query(String.class)
                .optional()
                .isEmpty()) {
            throw new InvalidRequestException(
                    INVALID, Map.of("customer", "'" + request.customer() + "' is not a customer"));
        }
        long price = jdbc.sql("SELECT price_cents FROM products WHERE sku = ?")
                .param(request.sku())
                .query(Long.class)
                .optional()
                .orElseThrow(() -> new InvalidRequestException(
                        INVALID, Map.of("sku", "'" + request.sku() + "' is not a product")));

        OrderPlaced order = new OrderPlaced(
                UUID.randomUUID().toString(),
                request.customer(),
                request.sku(),
                request.quantity(),
                price * request.quantity());
        jdbc.sql("INSERT INTO orders (id, customer_id, sku, quantity, amount_cents) VALUES (?, ?, ?, ?, ?)")
                .params(order.orderId(), order.customerId(), order.sku(), order.quantity(), order.amountCents())
                .update();
        events.emit(OrderPlaced.TYPE, order.orderId(), order);

        int taken = jdbc.sql("UPDATE products SET stock = stock - ? WHERE sku = ? AND stock >= ?")
                .params(order.quantity(), order.sku(), order.quantity())
                .update();
        if (taken == 0) {
            long left = jdbc.sql("SELECT stock FROM products WHERE sku = ?")
                    .param(order.sku())
                    .query(Long.class)
                    .single();
            throw new OutOfStockException(order.sku(), order.quantity(), left);
        }
        return order;
    }

    /** The order with whether it is paid and shipped yet. */
    public OrderView find(String id) {
        return jdbc.sql("""
                        SELECT o.id, o.customer_id, o.sku, o.quantity, o.amount_cents,
                               (SELECT COUNT(*) FROM payments p WHERE p.order_id = o.id) AS payments,
                               (SELECT COUNT(*) FROM shipments s WHERE s.order_id = o.id) AS shipments
                        FROM orders o WHERE o.id = ?""")
                .param(id)
                .query((rs, n) -> new OrderView(
                        rs.getString("id"),
                        rs.getString("customer_id"),
                        rs.getString("sku"),
                        rs.getInt("quantity"),
                        rs.getLong("amount_cents"),
                        rs.getLong("payments") > 0,
                        rs.getLong("shipments") > 0))
                .optional()
                .orElseThrow(() -> new NotFoundException("order", id));
    }
}
