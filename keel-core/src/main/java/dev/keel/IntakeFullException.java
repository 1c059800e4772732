package dev.keel;

import java.time.Duration;

/**
 * Backpressure: a lane held more undelivered events than the intake high-water mark for longer than the
 * emit wait bound. The event was not stored; retry later or slow the producer.
 */
public final class IntakeFullException extends KeelException {
    private static final long serialVersionUID = 1L;

    public IntakeFullException(int lane, long backlog, long highWaterMark, Duration waited) {
        super("lane " + lane + " has " + backlog + " undelivered events, at or over the high-water mark of "
                + highWaterMark + "; waited " + waited.toMillis() + " ms for room. The event was not stored:"
                + " retry later, add lanes, or speed up the subscriptions");
    }
}
