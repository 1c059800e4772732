package dev.keel;

import java.time.Duration;
import java.util.Objects;

/**
 * Thrown by a handler that knows when a retry can succeed (an HTTP {@code Retry-After}, a known
 * maintenance window): the attempt counts as failed, and the next one is due after {@link #delay()}
 * instead of the policy's backoff, still within the policy's attempts.
 */
public class RetryAfterException extends KeelException {
    private static final long serialVersionUID = 1L;
    private final Duration delay;

    public RetryAfterException(String message, Duration delay) {
        super(message);
        this.delay = Objects.requireNonNull(delay, "delay");
    }

    /** When to try again. */
    public Duration delay() {
        return delay;
    }
}
