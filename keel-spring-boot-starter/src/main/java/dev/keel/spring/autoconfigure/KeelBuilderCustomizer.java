package dev.keel.spring.autoconfigure;

import dev.keel.Keel;

/**
 * Adjusts the {@link Keel.Builder} the auto-configuration prepares from {@code keel.*} properties, before the
 * runtime is built: a clock, a health check, at-most-once types, a dead-letter alert. Every bean of this type is
 * applied, in {@link org.springframework.core.annotation.Order} order, after the properties.
 */
@FunctionalInterface
public interface KeelBuilderCustomizer {
    void customize(Keel.Builder builder);
}
