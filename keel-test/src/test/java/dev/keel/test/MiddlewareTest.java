package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetterQuery;
import dev.keel.DeliveryTimeoutException;
import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.ValidationFailedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class MiddlewareTest {
    private Keel keel = Keel.builder().lanes(2).build();

    @AfterEach
    void close() {
        keel.close(Duration.ofSeconds(2));
    }

    @Test
    void shouldRunMiddlewareOutermostFirstAroundTheHandler() {
        List<String> trace = new CopyOnWriteArrayList<>();
        Middleware outer = (d, chain) -> {
            trace.add("outer>");
            chain.proceed(d);
            trace.add("<outer");
        };
        Middleware inner = (d, chain) -> {
            trace.add("inner>");
            chain.proceed(d);
            trace.add("<inner");
        };
        keel.subscribe(Subscription.builder("s")
                .types("a.b")
                .use(outer, inner)
                .handler(Object.class, d -> trace.add("handler"))
                .build());
        keel.emit("a.b", "k", 1).join();
        keel.process();
        assertThat(trace).containsExactly("outer>", "inner>", "handler", "<inner", "<outer");
    }

    @Test
    void shouldRetryQuicklyInProcessWithinOneAttempt() {
        AtomicInteger calls = new AtomicInteger();
        keel.subscribe(Subscription.builder("s")
                .types("a.b")
                .use(Middleware.retry(3, Duration.ZERO))
                .handler(Object.class, d -> {
                    if (calls.incrementAndGet() < 3) {
                        throw new IOException("blip");
                    }
                })
                .build());
        keel.emit("a.b", "k", 1).join();
        keel.process();
        assertThat(calls).hasValue(3);
        assertThat(keel.stats().subscription("s").failedAttempts()).isZero();
        assertThat(keel.stats().subscription("s").delivered()).isEqualTo(1);
    }

    @Test
    void shouldDeadLetterEventsFailingValidationWithoutRetry() {
        keel.subscribe(Subscription.builder("s")
                .types("order.*")
                .use(Middleware.validate(e -> e.partitionKey() != null, "orders need a key"))
                .handler(Object.class, d -> {})
                .build());
        keel.emit("order.created", null, 1).join();
        keel.process();
        assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                .singleElement()
                .satisfies(d -> {
                    assertThat(d.lastErrorType()).isEqualTo(ValidationFailedException.class.getName());
                    assertThat(d.reason()).contains("orders need a key");
                });
    }

    @Test
    void shouldPauseRatherThanBurnAttemptsWhileTheCircuitIsOpen() {
        CircuitBreaker breaker = CircuitBreaker.of(
                "payments",
                CircuitBreakerConfig.custom()
                        .slidingWindowSize(2)
                        .minimumNumberOfCalls(2)
                        .failureRateThreshold(50)
                        .waitDurationInOpenState(Duration.ofMillis(200))
                        .permittedNumberOfCallsInHalfOpenState(1)
                        .build());
        AtomicBoolean down = new AtomicBoolean(true);
        List<Object> delivered = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(1).build();
        keel.subscribe(Subscription.builder("payments")
                .types("pay.*")
                .retry(RetryPolicy.builder()
                        .maxAttempts(10)
                        .initialDelay(Duration.ofMillis(1))
                        .maxDelay(Duration.ofMillis(1))
                        .build())
                .use(Middleware.circuitBreaker(breaker))
                .handler(Object.class, d -> {
                    if (down.get()) {
                        throw new IOException("gateway down");
                    }
                    delivered.add(d.data());
                })
                .build());
        keel.start();
        for (int i = 0; i < 5; i++) {
            keel.emit("pay.requested", "p" + i, i).join();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> breaker.getState() == CircuitBreaker.State.OPEN);
        await().during(Duration.ofMillis(300))
                .atMost(Duration.ofSeconds(2))
                .until(() -> keel.stats().subscription("payments").pauses() > 0);
        down.set(false);
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 5);
        assertThat(keel.deadLetters().count("payments")).isZero();
        // Two failures open the circuit, then only half-open probes (one per 200 ms open period) fail;
        // without the pause, 1 ms retries would have burned all ten attempts of every event.
        assertThat(keel.stats().subscription("payments").failedAttempts()).isLessThan(10);
    }

    @Test
    void shouldNotUseAttemptsOnFailedHalfOpenProbes() {
        CircuitBreaker breaker = CircuitBreaker.of(
                "ledger",
                CircuitBreakerConfig.custom()
                        .slidingWindowSize(2)
                        .minimumNumberOfCalls(2)
                        .failureRateThreshold(50)
                        .waitDurationInOpenState(Duration.ofMillis(20))
                        .permittedNumberOfCallsInHalfOpenState(1)
                        .build());
        AtomicBoolean down = new AtomicBoolean(true);
        java.util.concurrent.atomic.AtomicInteger probes = new java.util.concurrent.atomic.AtomicInteger();
        List<Object> delivered = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(1).build();
        keel.subscribe(Subscription.builder("ledger")
                .types("pay.*")
                .retry(RetryPolicy.builder()
                        .maxAttempts(3)
                        .initialDelay(Duration.ofMillis(1))
                        .maxDelay(Duration.ofMillis(1))
                        .build())
                .use(Middleware.circuitBreaker(breaker))
                .handler(Object.class, d -> {
                    if (down.get()) {
                        probes.incrementAndGet();
                        throw new IOException("ledger down");
                    }
                    delivered.add(d.data());
                })
                .build());
        keel.start();
        for (int i = 0; i < 3; i++) {
            keel.emit("pay.requested", "p" + i, i).join();
        }
        // Far more failed probes than the three attempts each event has: none of them may use an attempt.
        await().atMost(Duration.ofSeconds(20)).until(() -> probes.get() >= 20);
        assertThat(keel.deadLetters().count("ledger")).isZero();
        down.set(false);
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 3);
        assertThat(keel.deadLetters().count("ledger")).isZero();
        assertThat(keel.stats().subscription("ledger").failedAttempts()).isLessThanOrEqualTo(2);
    }

    @Test
    void shouldHoldDeliveriesToTheRateLimit() {
        RateLimiter limiter = RateLimiter.of(
                "slow",
                RateLimiterConfig.custom()
                        .limitForPeriod(2)
                        .limitRefreshPeriod(Duration.ofMillis(100))
                        .timeoutDuration(Duration.ZERO)
                        .build());
        List<Object> delivered = new CopyOnWriteArrayList<>();
        keel.subscribe(Subscription.builder("s")
                .types("a.b")
                .use(Middleware.rateLimiter(limiter))
                .handler(Object.class, d -> delivered.add(d.data()))
                .build());
        for (int i = 0; i < 6; i++) {
            keel.emit("a.b", "k", i).join();
        }
        keel.process();
        assertThat(delivered).hasSizeLessThanOrEqualTo(2);
        keel.start();
        await().atMost(Duration.ofSeconds(5)).until(() -> delivered.size() == 6);
        assertThat(delivered).containsExactly(0, 1, 2, 3, 4, 5);
        assertThat(keel.stats().subscription("s").failedAttempts()).isZero();
    }

    @Test
    void shouldPauseTheLaneWhileTheBulkheadIsFullAndDeliverEverythingAfterwards() throws Exception {
        io.github.resilience4j.bulkhead.Bulkhead bulkhead = io.github.resilience4j.bulkhead.Bulkhead.of(
                "inventory",
                io.github.resilience4j.bulkhead.BulkheadConfig.custom()
                        .maxConcurrentCalls(1)
                        .maxWaitDuration(Duration.ZERO)
                        .build());
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch hold = new CountDownLatch(1);
        List<Object> delivered = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(4).build();
        keel.subscribe(Subscription.builder("inventory")
                .types("stock.*")
                .use(Middleware.bulkhead(bulkhead))
                .handler(Integer.class, d -> {
                    if (d.data() == 0) {
                        entered.countDown();
                        hold.await();
                    }
                    delivered.add(d.data());
                })
                .build());
        keel.start();
        keel.emit("stock.changed", "sku-0", 0).join();
        assertThat(entered.await(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        for (int i = 1; i < 8; i++) {
            keel.emit("stock.changed", "sku-" + i, i).join();
        }
        await().atMost(Duration.ofSeconds(5))
                .until(() -> keel.stats().subscription("inventory").pauses() > 0);
        assertThat(delivered).isEmpty();
        hold.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 8);
        assertThat(keel.stats().subscription("inventory").failedAttempts()).isZero();
    }

    @Test
    void shouldBoundDeliveriesPerKeyAcrossSubscriptionsSharingTheLimit() {
        Middleware perAccount = Middleware.concurrencyPerKey(1, Duration.ofSeconds(5));
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        keel = Keel.builder().lanes(2).build();
        for (String name : List.of("ledger", "limits", "audit")) {
            keel.subscribe(Subscription.builder(name)
                    .types("txn.*")
                    .use(perAccount)
                    .handler(Object.class, d -> {
                        peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                        Thread.sleep(5);
                        inFlight.decrementAndGet();
                    })
                    .build());
        }
        keel.start();
        for (int i = 0; i < 20; i++) {
            keel.emit("txn.booked", "account-1", i).join();
        }
        await().atMost(Duration.ofSeconds(20)).until(() -> keel.stats().delivered() == 60);
        assertThat(peak.get()).isEqualTo(1);
    }

    @Test
    void shouldWarnAtEightyPercentOfTheTimeoutWithoutFailingTheAttempt() {
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        keel = Keel.builder().lanes(1).meterRegistry(registry).build();
        keel.subscribe(Subscription.builder("nearly")
                .types("a.b")
                .timeout(Duration.ofMillis(200))
                .handler(Object.class, d -> Thread.sleep(180))
                .build());
        keel.emit("a.b", "k", 1).join();
        keel.process();
        assertThat(keel.stats().subscription("nearly").delivered()).isEqualTo(1);
        assertThat(registry.get(dev.keel.KeelMeter.TIMEOUT_WARNINGS.meterName())
                        .tag("subscription", "nearly")
                        .counter()
                        .count())
                .isEqualTo(1);
    }

    @Test
    void shouldBoundConcurrencyAcrossLanes() throws Exception {
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger peak = new AtomicInteger();
        keel = Keel.builder().lanes(4).build();
        keel.subscribe(Subscription.builder("s")
                .types("a.b")
                .use(Middleware.concurrency(2, Duration.ofSeconds(5)))
                .handler(Object.class, d -> {
                    peak.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                    Thread.sleep(20);
                    inFlight.decrementAndGet();
                })
                .build());
        keel.start();
        for (int i = 0; i < 40; i++) {
            keel.emit("a.b", "k" + i, i).join();
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> keel.stats().subscription("s").delivered() == 40);
        assertThat(peak.get()).isBetween(1, 2);
    }

    @Test
    void shouldFailAnAttemptThatOverrunsItsTimeoutAndCountTheWarning() {
        AtomicInteger calls = new AtomicInteger();
        keel.subscribe(Subscription.builder("slow")
                .types("a.b")
                .timeout(Duration.ofMillis(100))
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    calls.incrementAndGet();
                    Thread.sleep(10_000);
                })
                .build());
        keel.start();
        keel.emit("a.b", "k", 1).join();
        await().atMost(Duration.ofSeconds(5)).until(() -> keel.deadLetters().count("slow") == 1);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all()).getFirst().lastErrorType())
                .isEqualTo(DeliveryTimeoutException.class.getName());
        assertThat(calls).hasValue(1);
    }

    @Test
    void shouldAbandonAHandlerThatIgnoresInterruptsAndKeepTheLaneGoing() {
        CountDownLatch release = new CountDownLatch(1);
        List<Object> delivered = new CopyOnWriteArrayList<>();
        keel = Keel.builder().lanes(1).build();
        keel.subscribe(Subscription.builder("stubborn")
                .types("a.b")
                .timeout(Duration.ofMillis(100))
                .retry(RetryPolicy.NO_RETRY)
                .handler(Integer.class, d -> {
                    if (d.data() == 0) {
                        while (release.getCount() > 0) {
                            try {
                                release.await();
                            } catch (InterruptedException ignored) {
                                // a badly behaved handler: swallows the interrupt and keeps waiting
                            }
                        }
                    }
                    delivered.add(d.data());
                })
                .build());
        keel.start();
        keel.emit("a.b", "k", 0).join();
        keel.emit("a.b", "k", 1).join();
        keel.emit("a.b", "other", 2).join();
        await().atMost(Duration.ofSeconds(5)).until(() -> delivered.containsAll(List.of(1, 2)));
        assertThat(keel.deadLetters().count("stubborn")).isEqualTo(1);
        release.countDown();
        await().atMost(Duration.ofSeconds(2)).until(() -> delivered.contains(0));
        assertThat(keel.stats().subscription("stubborn").delivered()).isEqualTo(2);
    }
}
