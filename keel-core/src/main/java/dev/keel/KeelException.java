package dev.keel;

/**
 * The base type of every exception Keel throws. Subtypes say what went wrong; their messages name the
 * value at fault and the limit it broke, so callers can fix the input or configuration.
 */
public class KeelException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public KeelException(String message) {
        super(message);
    }

    public KeelException(String message, Throwable cause) {
        super(message, cause);
    }
}
