package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.Subscription;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** Pauses and open circuits are stored, so every instance on the journal honours them. */
class SharedPauseTest extends WithPostgres {

    private static Keel runtime(String url, CircuitBreaker breaker, List<Object> seen) {
        Keel keel = Keel.builder()
                .lanes(2)
                .leaseDuration(Duration.ofMillis(800))
                .journal(JdbcJournal.postgres(url, server.user(), null))
                .build();
        keel.subscribe(Subscription.builder("payments")
                .types("pay.*")
                .use(Middleware.circuitBreaker(breaker))
                .handler(Object.class, d -> seen.add(d.data()))
                .build());
        return keel;
    }

    private static CircuitBreaker breaker() {
        return CircuitBreaker.of(
                "gateway",
                CircuitBreakerConfig.custom()
                        .waitDurationInOpenState(Duration.ofSeconds(2))
                        .build());
    }

    @Test
    void shouldPauseEveryInstanceWhenOnePausesOrItsCircuitOpens() throws Exception {
        String url = server.newDatabase();
        List<Object> seen = new CopyOnWriteArrayList<>();
        CircuitBreaker breakerA = breaker();
        try (Keel a = runtime(url, breakerA, seen).start();
                Keel b = runtime(url, breaker(), seen).start()) {
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> b.heldLanes().size() == 1 && a.heldLanes().size() == 1);

            a.pause("payments", Duration.ofMinutes(1));
            await().atMost(Duration.ofSeconds(5)).until(() -> b.pausedUntil("payments") != null);
            for (int i = 0; i < 10; i++) {
                b.emit("pay.requested", "p" + i, i).join();
            }
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(seen::isEmpty);
            b.resume("payments");
            await().atMost(Duration.ofSeconds(10)).until(() -> seen.size() == 10);

            breakerA.transitionToOpenState(); // as if A saw the gateway fail
            await().atMost(Duration.ofSeconds(5)).until(() -> b.pausedUntil("payments") != null);
            for (int i = 10; i < 20; i++) {
                b.emit("pay.requested", "p" + i, i).join();
            }
            await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> seen.size() == 10);
            // The open period ends (2 s) and both instances deliver again, without having used attempts.
            await().atMost(Duration.ofSeconds(15)).until(() -> seen.size() == 20);
            assertThat(b.stats().subscription("payments").failedAttempts()).isZero();
        }
    }
}
