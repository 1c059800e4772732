package dev.keel.spring;

import dev.keel.OrderingMode;
import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Subscribes a bean method to Keel events, under a stable subscription name:
 *
 * <pre>{@code
 * @KeelListener(subscription = "billing", types = "order.*", maxAttempts = 8)
 * void bill(Order order) { ... }
 * }</pre>
 *
 * <p>The method takes one parameter: the event's data converted to its type, the {@link dev.keel.Event}, or the
 * {@link dev.keel.Delivery} (for the attempt number and the time left); or two, the data and then the delivery.
 * Returning acknowledges the event; throwing fails the attempt, and the retry policy decides what follows
 * ({@link dev.keel.PermanentFailureException} dead-letters at once).
 *
 * <p>Settings left at their defaults come from {@code keel.retry.*} and {@code keel.timeout}, and
 * {@code keel.subscriptions.<name>.*} overrides any of them. String attributes accept {@code ${...}}
 * placeholders; durations are written as in properties ({@code 500ms}, {@code 2s}, {@code PT1M}).
 *
 * <p>A method that is also {@code @Transactional}, when Keel shares the database of the application's JDBC
 * transaction manager, runs inside Keel's delivery transaction: its writes commit together with the record that
 * the event was handled, once per subscription and event. See docs/spring-boot.md.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface KeelListener {
    /** The subscription's name. It keys the stored cursors: keep it stable across releases. */
    String subscription();

    /** Event type patterns, such as {@code order.*}. */
    String[] types();

    /** Per-key order (the default) or strict order per lane. */
    OrderingMode ordering() default OrderingMode.PER_KEY;

    /** Attempts in all, the first included; 0 takes {@code keel.retry.max-attempts}. */
    int maxAttempts() default 0;

    /** The delay before the second attempt; empty takes {@code keel.retry.initial-delay}. */
    String initialDelay() default "";

    /** The longest delay between attempts; empty takes {@code keel.retry.max-delay}. */
    String maxDelay() default "";

    /** How long one attempt may run; empty takes {@code keel.timeout}. */
    String timeout() default "";

    /**
     * Deliveries go through a circuit breaker (Resilience4j's defaults): while it is open the subscription's lanes
     * wait instead of using up attempts.
     */
    boolean circuitBreaker() default false;

    /** Receives only this tenant's events; empty for every tenant. */
    String tenant() default "";
}
