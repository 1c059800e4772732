package dev.keel.examples.springcheckout;

import java.util.Map;
import org.springframework.http.ResponseEntity;
import org.springframework.jdbc.core.simple.JdbcClient;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/** {@code PUT /customers/{id}/address} sets where a customer's orders ship to. */
@RestController
@RequestMapping("/customers")
public class CustomerController {
    private final JdbcClient jdbc;

    public CustomerController(JdbcClient jdbc) {
        this.jdbc = jdbc;
    }

    /** The body of {@code PUT /customers/{id}/address}. */
    public record Address(String address) {}

    @PutMapping("/{id}/address")
    public ResponseEntity<Void> setAddress(@PathVariable String id, @RequestBody Address body) {
        if (body.address() == null || body.address().isBlank()) {
            throw new InvalidRequestException("Invalid address", Map.of("address", "is required"));
        }
        int updated = jdbc.sql("UPDATE customers SET address = ? WHERE id = ?")
                .params(body.address().strip(), id)
                .update();
        if (updated == 0) {
            throw new NotFoundException("customer", id);
        }
        return ResponseEntity.noContent().build();
    }
}
