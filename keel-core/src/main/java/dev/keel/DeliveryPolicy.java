package dev.keel;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How a subscription delivers: ordering, retries (optionally per event type) and the delivery timeout.
 *
 * @param ordering see {@link OrderingMode}; {@link OrderingMode#PER_KEY} by default
 * @param retry the retry policy for every type without an override
 * @param retryOverrides per-type retry policies; the first whose pattern matches wins
 * @param timeout how long one attempt may take before it fails with {@link DeliveryTimeoutException}; a
 *     warning is logged and counted at 80% of it; null for no limit
 */
public record DeliveryPolicy(
        OrderingMode ordering, RetryPolicy retry, List<TypeRetry> retryOverrides, Duration timeout) {

    /** The timeout of {@link #DEFAULT}. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** Per-key ordering, {@link RetryPolicy#DEFAULT}, 30 s timeout. */
    public static final DeliveryPolicy DEFAULT =
            new DeliveryPolicy(OrderingMode.PER_KEY, RetryPolicy.DEFAULT, List.of(), DEFAULT_TIMEOUT);

    public DeliveryPolicy {
        Objects.requireNonNull(ordering, "ordering");
        Objects.requireNonNull(retry, "retry");
        retryOverrides = List.copyOf(retryOverrides);
        if (timeout != null && (timeout.isZero() || timeout.isNegative())) {
            throw new IllegalArgumentException("timeout must be positive (or null for none) but was " + timeout);
        }
    }

    /** A retry policy that applies to the types matching a pattern. */
    public record TypeRetry(TypePattern pattern, RetryPolicy policy) {
        public TypeRetry {
            Objects.requireNonNull(pattern, "pattern");
            Objects.requireNonNull(policy, "policy");
        }
    }

    /** The retry policy for an event type. */
    public RetryPolicy retryFor(String type) {
        for (TypeRetry override : retryOverrides) {
            if (override.pattern().matches(type)) {
                return override.policy();
            }
        }
        return retry;
    }
}
