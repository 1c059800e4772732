package dev.keel;

/**
 * Thrown by a handler (or middleware) when retrying cannot help: the event is dead-lettered at once with
 * this exception's message as the reason.
 */
public class PermanentFailureException extends KeelException {
    private static final long serialVersionUID = 1L;

    public PermanentFailureException(String message) {
        super(message);
    }

    public PermanentFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
