package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's sample, kept compiling and working: a flaky gateway is retried until it charges. */
class ReadmeExampleTest {
    @TempDir
    Path dir;

    record Order(String id, int cents) {}

    /** A payment gateway that times out on its first call. */
    static final class Gateway {
        final List<Order> charged = new CopyOnWriteArrayList<>();
        private int calls;

        synchronized void charge(Order order) throws IOException {
            if (calls++ == 0) {
                throw new IOException("gateway timed out");
            }
            charged.add(order);
        }
    }

    @Test
    void shouldRetryTheFlakyGatewayUntilTheOrderIsCharged() {
        Gateway gateway = new Gateway();
        Order order = new Order("o-1", 1200);

        try (Keel keel = Keel.builder()
                .lanes(8)
                .journal(JdbcJournal.sqlite(dir.resolve("keel-data/keel.db")))
                .build()) {
            keel.subscribe(Subscription.builder("payments")
                    .types("order.placed")
                    .retry(RetryPolicy.builder()
                            .maxAttempts(5)
                            .initialDelay(Duration.ofMillis(10)) // the README waits 1 s
                            .build())
                    .use(Middleware.circuitBreaker(CircuitBreaker.ofDefaults("gateway")))
                    .handler(Order.class, d -> gateway.charge(d.data()))
                    .build());
            keel.start();
            keel.emit("order.placed", order.id(), order).join();

            await().atMost(Duration.ofSeconds(5)).until(() -> gateway.charged.contains(order));
            assertThat(keel.stats().subscription("payments").failedAttempts()).isEqualTo(1);
        }
    }
}
