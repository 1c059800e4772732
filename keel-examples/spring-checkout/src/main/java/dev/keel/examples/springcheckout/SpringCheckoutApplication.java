package dev.keel.examples.springcheckout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A checkout service on Spring Boot and Keel: {@code POST /orders} stores an order and its {@code order.placed}
 * event in one transaction; the {@link Payments} listener captures the payment and emits {@code payment.captured}
 * in its delivery's transaction; the {@link Shipping} listener ships it, retrying while the customer has no
 * address and dead-lettering the event when the attempts run out. See the README beside this module's pom.
 */
@SpringBootApplication
public class SpringCheckoutApplication {
    public static void main(String[] args) throws IOException {
        // The default database is data/checkout.db: SQLite creates the file, not its folder.
        Files.createDirectories(Path.of("data"));
        SpringApplication.run(SpringCheckoutApplication.class, args);
    }
}
