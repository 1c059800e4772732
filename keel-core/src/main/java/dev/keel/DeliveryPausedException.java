package dev.keel;

import java.time.Duration;

/**
 * Thrown by middleware when a delivery must wait through no fault of the event: an open circuit, a rate
 * limit, a full bulkhead. The runtime does not count an attempt: it pauses the subscription on that lane
 * for {@link #retryAfter()} and then offers the same event again, so nothing is burned into the dead
 * letters while a dependency is down.
 */
public class DeliveryPausedException extends KeelException {
    private static final long serialVersionUID = 1L;
    private final Duration retryAfter;

    /** The pause used when none (or a negative one) is given. */
    public static final Duration DEFAULT_PAUSE = Duration.ofMillis(100);

    public DeliveryPausedException(String message, Duration retryAfter) {
        super(message);
        this.retryAfter = orDefault(retryAfter);
    }

    public DeliveryPausedException(String message, Duration retryAfter, Throwable cause) {
        super(message, cause);
        this.retryAfter = orDefault(retryAfter);
    }

    private static Duration orDefault(Duration d) {
        return d == null || d.isNegative() ? DEFAULT_PAUSE : d;
    }

    /** How long to wait before offering the event again. */
    public Duration retryAfter() {
        return retryAfter;
    }
}
