package dev.keel;

/** A subscription could not be added, found or removed: a duplicate or unknown name, for instance. */
public final class SubscriptionException extends KeelException {
    private static final long serialVersionUID = 1L;

    public SubscriptionException(String message) {
        super(message);
    }
}
