package dev.keel;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How a subscription delivers: ordering, retries (optionally per event type), the delivery timeout and its grace.
 *
 * @param ordering see {@link OrderingMode}; {@link OrderingMode#PER_KEY} by default
 * @param retry the retry policy for every type without an override
 * @param retryOverrides per-type retry policies; the first whose pattern matches wins
 * @param timeout how long one attempt may take before it fails with {@link DeliveryTimeoutException}; a
 *     warning is logged and counted at 80% of it; null for no limit
 * @param timeoutGrace how long past the timeout a handler is left to finish before it is interrupted; one that
 *     finishes within it succeeds and is counted as a grace recovery ({@code keel.delivery.grace.recoveries}); zero
 *     (the default) interrupts at the timeout
 */
public record DeliveryPolicy(
        OrderingMode ordering,
        RetryPolicy retry,
        List<TypeRetry> retryOverrides,
        Duration timeout,
        Duration timeoutGrace) {

    /** The timeout of {@link #DEFAULT}. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

    /** Per-key ordering, {@link RetryPolicy#DEFAULT}, 30 s timeout. */
    public static final DeliveryPolicy DEFAULT =
            new DeliveryPolicy(OrderingMode.PER_KEY, RetryPolicy.DEFAULT, List.of(), DEFAULT_TIMEOUT, Duration.ZERO);

    public DeliveryPolicy {
        Objects.requireNonNull(ordering, "ordering");
        Objects.requireNonNull(retry, "retry");
        retryOverrides = List.copyOf(retryOverrides);
        if (timeout != null && (timeout.isZero() || timeout.isNegative())) {
            throw new IllegalArgumentException("timeout must be positive (or null for none) but was " + timeout);
        }
        if (timeoutGrace == null) {
            timeoutGrace = Duration.ZERO;
        }
        if (timeoutGrace.isNegative()) {
            throw new IllegalArgumentException("timeoutGrace must not be negative but was " + timeoutGrace);
        }
        if (timeout == null && !timeoutGrace.isZero()) {
            throw new IllegalArgumentException(
                    "timeoutGrace " + timeoutGrace + " needs a timeout: give the subscription a timeout too");
        }
    }

    /** A policy without a grace period. */
    public DeliveryPolicy(OrderingMode ordering, RetryPolicy retry, List<TypeRetry> retryOverrides, Duration timeout) {
        this(ordering, retry, retryOverrides, timeout, Duration.ZERO);
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
