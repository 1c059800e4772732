package dev.keel;

/**
 * User code that receives events. Returning normally acknowledges the delivery; throwing fails the
 * attempt, and the subscription's {@link RetryPolicy} decides what follows. Throw
 * {@link PermanentFailureException} to dead-letter at once, {@link RetryAfterException} to choose the
 * retry time.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface Handler<T> {
    void handle(Delivery<T> delivery) throws Exception;
}
