package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.AttemptError;
import dev.keel.DeadLetterQuery;
import dev.keel.Delivery;
import dev.keel.DeliveryCancelledException;
import dev.keel.DeliveryTimeoutException;
import dev.keel.Keel;
import dev.keel.KeelMeter;
import dev.keel.RetryPolicy;
import dev.keel.RunningDelivery;
import dev.keel.Subscription;
import dev.keel.SubscriptionException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Time budgets of a delivery: the grace after a timeout, the deadline a handler can read, the deliveries running
 * now, and cancelling one.
 */
class TimeBudgetTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private Keel keel;

    @AfterEach
    void close() {
        if (keel != null) {
            keel.close(Duration.ofSeconds(2));
        }
    }

    private double count(KeelMeter meter, String subscription) {
        var c = registry.find(meter.meterName())
                .tag("subscription", subscription)
                .counter();
        return c == null ? 0 : c.count();
    }

    private RunningDelivery awaitRunning(String subscription, Duration atLeast) {
        AtomicReference<RunningDelivery> seen = new AtomicReference<>();
        await().atMost(WAIT).until(() -> {
            for (RunningDelivery r : keel.runningDeliveries()) {
                if (r.subscription().equals(subscription) && r.running().compareTo(atLeast) >= 0) {
                    seen.set(r);
                    return true;
                }
            }
            return false;
        });
        return seen.get();
    }

    @Test
    void shouldLetAHandlerFinishWithinTheGraceAndCountTheRecovery() {
        CountDownLatch release = new CountDownLatch(1);
        keel = Keel.builder().lanes(1).meterRegistry(registry).build();
        keel.subscribe(Subscription.builder("ledger")
                .types("order.*")
                .timeout(Duration.ofMillis(100))
                .timeoutGrace(Duration.ofSeconds(30))
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> release.await())
                .build());
        keel.start();
        keel.emit("order.placed", "k", 1).join();

        awaitRunning("ledger", Duration.ofMillis(300)); // well past its timeout, inside its grace
        release.countDown();

        await().atMost(WAIT).until(() -> keel.stats().subscription("ledger").delivered() == 1);
        assertThat(keel.deadLetters().count("ledger")).isZero();
        assertThat(count(KeelMeter.GRACE_RECOVERIES, "ledger")).isEqualTo(1);
        assertThat(count(KeelMeter.TIMEOUTS, "ledger")).isZero();
        assertThat(count(KeelMeter.TIMEOUT_WARNINGS, "ledger")).isEqualTo(1);
    }

    @Test
    void shouldInterruptAHandlerThatRunsPastItsGrace() {
        AtomicInteger calls = new AtomicInteger();
        keel = Keel.builder().lanes(1).meterRegistry(registry).build();
        keel.subscribe(Subscription.builder("ledger")
                .types("order.*")
                .timeout(Duration.ofMillis(100))
                .timeoutGrace(Duration.ofMillis(100))
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    calls.incrementAndGet();
                    new CountDownLatch(1).await(); // never returns unless interrupted
                })
                .build());
        keel.start();
        keel.emit("order.placed", "k", 1).join();

        await().atMost(WAIT).until(() -> keel.deadLetters().count("ledger") == 1);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all()).getFirst().lastErrorType())
                .isEqualTo(DeliveryTimeoutException.class.getName());
        assertThat(count(KeelMeter.TIMEOUTS, "ledger")).isEqualTo(1);
        assertThat(count(KeelMeter.GRACE_RECOVERIES, "ledger")).isZero();
        assertThat(calls).hasValue(1);
    }

    @Test
    void shouldGiveTheHandlerItsDeadlineOnTheRuntimesClock() {
        TestClock clock = TestClock.at(Instant.parse("2026-12-04T10:00:00Z"));
        List<Delivery<?>> seen = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(1).clock(clock).build();
        keel.subscribe(Subscription.builder("timed")
                .types("order.*")
                .timeout(Duration.ofSeconds(5))
                .handler(Object.class, seen::add)
                .build());
        keel.subscribe(Subscription.builder("untimed")
                .types("order.*")
                .timeout(null)
                .handler(Object.class, seen::add)
                .build());
        keel.emit("order.placed", "k", 1).join();
        keel.process();

        Delivery<?> timed = seen.stream()
                .filter(d -> d.subscription().equals("timed"))
                .findFirst()
                .orElseThrow();
        assertThat(timed.deadline()).isEqualTo(Instant.parse("2026-12-04T10:00:05Z"));
        clock.advance(Duration.ofSeconds(2));
        assertThat(timed.timeLeft(clock)).contains(Duration.ofSeconds(3));
        clock.advance(Duration.ofSeconds(10));
        assertThat(timed.timeLeft(clock)).contains(Duration.ZERO);
        Delivery<?> untimed = seen.stream()
                .filter(d -> d.subscription().equals("untimed"))
                .findFirst()
                .orElseThrow();
        assertThat(untimed.deadline()).isNull();
        assertThat(untimed.timeLeft(clock)).isEmpty();
    }

    @Test
    void shouldListARunningDeliveryAndCancelItSoItIsRetried() {
        cancelAndRetry(Duration.ofMinutes(5));
    }

    @Test
    void shouldCancelADeliveryWithoutATimeoutToo() {
        cancelAndRetry(null);
    }

    private void cancelAndRetry(Duration timeout) {
        List<Delivery<?>> attempts = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(2).meterRegistry(registry).build();
        keel.subscribe(Subscription.builder("billing")
                .types("order.*")
                .timeout(timeout)
                .retry(RetryPolicy.builder()
                        .maxAttempts(3)
                        .initialDelay(Duration.ofMillis(10))
                        .jitter(0)
                        .build())
                .handler(Object.class, d -> {
                    attempts.add(d);
                    if (d.attempt() == 1) {
                        new CountDownLatch(1).await(); // hangs until cancelled
                    }
                })
                .build());
        keel.start();
        String id = keel.emit("order.placed", "order-7", 1).join().eventId();

        RunningDelivery running = awaitRunning("billing", Duration.ZERO);
        assertThat(running.eventId()).isEqualTo(id);
        assertThat(running.type()).isEqualTo("order.placed");
        assertThat(running.key()).isEqualTo("order-7");
        assertThat(running.attempt()).isEqualTo(1);
        assertThat(running.deadline() != null).isEqualTo(timeout != null);
        assertThat(keel.cancel("billing", "no-such-event")).isFalse();

        assertThat(keel.cancel("billing", id)).isTrue();

        await().atMost(WAIT).until(() -> keel.stats().subscription("billing").delivered() == 1);
        assertThat(attempts).hasSize(2);
        List<AttemptError> errors = attempts.get(1).errors();
        assertThat(errors).singleElement().satisfies(e -> {
            assertThat(e.errorType()).isEqualTo(DeliveryCancelledException.class.getName());
            assertThat(e.message()).contains("was cancelled while it ran");
        });
        assertThat(count(KeelMeter.CANCELLATIONS, "billing")).isEqualTo(1);
        assertThat(keel.runningDeliveries()).isEmpty();
        assertThatThrownBy(() -> keel.cancel("nobody", id))
                .isInstanceOf(SubscriptionException.class)
                .hasMessageContaining("'nobody'");
    }

    @Test
    void shouldRefuseAGraceWithoutATimeout() {
        assertThatThrownBy(() -> Subscription.builder("s")
                        .types("a.b")
                        .timeout(null)
                        .timeoutGrace(Duration.ofSeconds(1))
                        .handler(Object.class, d -> {})
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs a timeout");
        assertThatThrownBy(() -> Subscription.builder("s")
                        .types("a.b")
                        .timeoutGrace(Duration.ofSeconds(-1))
                        .handler(Object.class, d -> {})
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must not be negative");
    }
}
