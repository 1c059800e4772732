package dev.keel.server;

import dev.keel.KeelException;

/**
 * A webhook delivery the receiver did not accept but may accept later: an answer of 408, 429 or 5xx, a
 * timeout, a refused or dropped connection. The attempt fails and is retried by the subscription's policy.
 */
public class WebhookDeliveryException extends KeelException {
    private static final long serialVersionUID = 1L;

    public WebhookDeliveryException(String message, Throwable cause) {
        super(message, cause);
    }
}
