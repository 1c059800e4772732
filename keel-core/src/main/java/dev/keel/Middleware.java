package dev.keel;

import dev.keel.middleware.BulkheadMiddleware;
import dev.keel.middleware.CircuitBreakerMiddleware;
import dev.keel.middleware.ConcurrencyLimit;
import dev.keel.middleware.InProcessRetry;
import dev.keel.middleware.RateLimitMiddleware;
import dev.keel.middleware.Validation;
import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.ratelimiter.RateLimiter;
import java.time.Duration;
import java.util.function.Predicate;

/**
 * An interceptor around a delivery. Call {@code chain.proceed(delivery)} to go on to the next middleware
 * and finally the handler; return without calling it to acknowledge without handling; throw to fail the
 * attempt. Middleware is listed on a {@link Subscription}; the first listed runs outermost.
 *
 * <p>The built-ins are made by the static methods here. The delivery timeout (with its warning at 80% of
 * the budget) is part of the {@link DeliveryPolicy}, enforced by the runtime around the whole chain.
 */
@FunctionalInterface
public interface Middleware {

    void around(Delivery<?> delivery, Chain chain) throws Exception;

    /** The rest of the chain. */
    @FunctionalInterface
    interface Chain {
        void proceed(Delivery<?> delivery) throws Exception;
    }

    /**
     * Quick in-process retries inside one attempt, for blips such as a dropped connection; durable
     * redelivery with backoff is the runtime's job.
     *
     * @param maxTries tries in all within the attempt, at least 1
     * @param wait pause between tries
     */
    static Middleware retry(int maxTries, Duration wait) {
        return new InProcessRetry(maxTries, wait);
    }

    /**
     * At most {@code max} deliveries of the subscription in flight at once, over all lanes. A delivery
     * that waits longer than {@code queueTimeout} for a slot pauses its lane without using an attempt.
     */
    static Middleware concurrency(int max, Duration queueTimeout) {
        return ConcurrencyLimit.global(max, queueTimeout);
    }

    /** At most {@code maxPerKey} deliveries in flight per partition key; otherwise as {@link #concurrency}. */
    static Middleware concurrencyPerKey(int maxPerKey, Duration queueTimeout) {
        return ConcurrencyLimit.perKey(maxPerKey, queueTimeout);
    }

    /**
     * Checks each delivered event; one that fails the check is dead-lettered without retries, with the
     * description as the reason.
     */
    static Middleware validate(Predicate<? super Event<?>> check, String description) {
        return new Validation(check, description);
    }

    /**
     * Guards the handler with a Resilience4j circuit breaker. While it is open the subscription's
     * deliveries pause (no attempts are used); half-open probes let deliveries through again.
     */
    static Middleware circuitBreaker(CircuitBreaker breaker) {
        return new CircuitBreakerMiddleware(breaker);
    }

    /** Bounds concurrent handler calls with a Resilience4j bulkhead; a full bulkhead pauses the lane. */
    static Middleware bulkhead(Bulkhead bulkhead) {
        return new BulkheadMiddleware(bulkhead);
    }

    /** Limits the delivery rate with a Resilience4j rate limiter; over the rate the lane pauses. */
    static Middleware rateLimiter(RateLimiter limiter) {
        return new RateLimitMiddleware(limiter);
    }
}
