package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Middleware;
import dev.keel.PermanentFailureException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * Delivery through a Resilience4j circuit breaker. An open circuit pauses the subscription's lane rather
 * than failing the attempt; so does a failed half-open probe (the breaker counts it, and reopens once its
 * half-open calls have failed enough): while a dependency stays down, only the failures that opened the
 * circuit use attempts, however long it stays down. The flip side: an event that fails every probe while
 * the circuit stays open waits rather than being dead-lettered; the breaker's state and the subscription's
 * pauses show it. Permanent failures (bad events, not a bad dependency) are not counted against the breaker.
 */
public final class CircuitBreakerMiddleware implements Middleware {
    private static final Duration MAX_PAUSE = Duration.ofSeconds(1);

    private final CircuitBreaker breaker;

    public CircuitBreakerMiddleware(CircuitBreaker breaker) {
        this.breaker = Objects.requireNonNull(breaker, "breaker");
    }

    /** The breaker, for metrics and state. */
    public CircuitBreaker breaker() {
        return breaker;
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        // Before acquiring: acquiring is what moves an open breaker to half-open.
        CircuitBreaker.State before = breaker.getState();
        boolean wasOpen = before == CircuitBreaker.State.OPEN || before == CircuitBreaker.State.HALF_OPEN;
        if (!breaker.tryAcquirePermission()) {
            throw new DeliveryPausedException(
                    "circuit breaker '" + breaker.getName() + "' is " + breaker.getState(), pause());
        }
        boolean probe = wasOpen || breaker.getState() == CircuitBreaker.State.HALF_OPEN;
        long start = System.nanoTime();
        try {
            chain.proceed(delivery);
        } catch (PermanentFailureException e) {
            breaker.releasePermission();
            throw e;
        } catch (Exception e) {
            breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
            if (probe && !(e instanceof DeliveryPausedException)) {
                Duration pause = pause();
                if (e instanceof dev.keel.RetryAfterException ra && ra.delay().compareTo(pause) > 0) {
                    pause = ra.delay(); // the dependency said when to come back
                }
                throw new DeliveryPausedException(
                        "circuit breaker '" + breaker.getName() + "': the half-open probe failed (" + e + ")",
                        pause,
                        e);
            }
            throw e;
        } catch (Error e) {
            breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, e);
            throw e;
        }
        breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }

    private Duration pause() {
        Duration open = Duration.ofMillis(breaker.getCircuitBreakerConfig()
                .getWaitIntervalFunctionInOpenState()
                .apply(1));
        Duration quarter = open.dividedBy(4);
        if (quarter.compareTo(Duration.ofMillis(10)) < 0) {
            return Duration.ofMillis(10);
        }
        return quarter.compareTo(MAX_PAUSE) > 0 ? MAX_PAUSE : quarter;
    }
}
