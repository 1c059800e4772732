package dev.keel.spring.autoconfigure;

import dev.keel.KeelException;

/**
 * A {@code keel.*} property (or a {@code @KeelListener} attribute) holds a value Keel refuses. Thrown while the
 * application context starts, so the application fails to start and says which property to fix.
 */
public final class InvalidKeelPropertyException extends KeelException {
    private static final long serialVersionUID = 1L;

    private final String property;
    private final String value;

    public InvalidKeelPropertyException(String property, Object value, String problem, Throwable cause) {
        super("invalid " + property + " = '" + value + "': " + problem, cause);
        this.property = property;
        this.value = String.valueOf(value);
    }

    /** The property, as written in application properties ({@code keel.lanes}). */
    public String property() {
        return property;
    }

    /** The refused value, as text. */
    public String value() {
        return value;
    }
}
