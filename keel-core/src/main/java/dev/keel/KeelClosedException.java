package dev.keel;

/** The runtime is closing or closed and takes no more events. */
public final class KeelClosedException extends KeelException {
    private static final long serialVersionUID = 1L;

    public KeelClosedException(String message) {
        super(message);
    }
}
