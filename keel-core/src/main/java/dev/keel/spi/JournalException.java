package dev.keel.spi;

import dev.keel.KeelException;

/** A journal operation failed (the store is unreachable, full, corrupt, ...). Nothing of it was applied. */
public class JournalException extends KeelException {
    private static final long serialVersionUID = 1L;

    public JournalException(String message) {
        super(message);
    }

    public JournalException(String message, Throwable cause) {
        super(message, cause);
    }
}
