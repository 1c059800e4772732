package dev.keel;

/** A delivered event failed a subscription's validation: it is dead-lettered without retries. */
public final class ValidationFailedException extends PermanentFailureException {
    private static final long serialVersionUID = 1L;

    public ValidationFailedException(String message) {
        super(message);
    }
}
