package dev.keel.spring.autoconfigure;

/**
 * Applies one property to a builder, turning the builder's refusal into an {@link InvalidKeelPropertyException}
 * that names the property: Keel's builders check every value, and the message should say which line of the
 * application's configuration holds it.
 */
final class PropertyApplier {
    private PropertyApplier() {}

    static void apply(String property, Object value, Runnable setter) {
        build(property, value, () -> {
            setter.run();
            return null;
        });
    }

    /** Builds something from the property's value, naming the property when the builder refuses it. */
    static <T> T build(String property, Object value, java.util.function.Supplier<T> builder) {
        try {
            return builder.get();
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new InvalidKeelPropertyException(property, value, e.getMessage(), e);
        }
    }
}
