package dev.keel;

import java.time.Duration;

/** A handler did not finish within the subscription's delivery timeout. Recorded as a failed attempt. */
public final class DeliveryTimeoutException extends KeelException {
    private static final long serialVersionUID = 1L;

    public DeliveryTimeoutException(String subscription, String eventId, Duration timeout) {
        super("subscription '" + subscription + "' did not finish event " + eventId + " within its timeout of "
                + timeout.toMillis() + " ms");
    }
}
