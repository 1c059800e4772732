package dev.keel;

/** An event was refused because one of its attributes is missing, malformed or over a limit. Nothing was stored. */
public final class InvalidEventException extends KeelException {
    private static final long serialVersionUID = 1L;

    public InvalidEventException(String message) {
        super(message);
    }
}
