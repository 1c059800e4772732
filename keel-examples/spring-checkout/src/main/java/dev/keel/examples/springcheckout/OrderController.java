package dev.keel.examples.springcheckout;

import java.net.URI;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code POST /orders} places an order; {@code GET /orders/{id}} shows it. Errors are problem details. */
@RestController
@RequestMapping("/orders")
public class OrderController {
    private final OrderService orders;

    public OrderController(OrderService orders) {
        this.orders = orders;
    }

    /** What {@code POST /orders} answers, with 201 and the order's location. */
    public record Placed(String id, long amountCents) {}

    @PostMapping
    public ResponseEntity<Placed> place(@RequestBody PlaceOrder request) {
        OrderPlaced order = orders.place(request);
        return ResponseEntity.created(URI.create("/orders/" + order.orderId()))
                .body(new Placed(order.orderId(), order.amountCents()));
    }

    @GetMapping("/{id}")
    public OrderService.OrderView get(@PathVariable String id) {
        return orders.find(id);
    }
}
