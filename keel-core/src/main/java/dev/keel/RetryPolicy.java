package dev.keel;

import java.time.Duration;
import java.util.Objects;
import java.util.Set;

/**
 * When to try a failed delivery again: exponential backoff with jitter, bounded by a number of attempts,
 * and which exceptions are worth retrying at all. Build with {@link #builder()}; {@link #DEFAULT} suits
 * most subscriptions.
 *
 * <p>The delay before attempt {@code n + 1} (after {@code n} failures) is
 * {@code min(maxDelay, initialDelay * multiplier^(n-1))}, then spread by {@code ±jitter} of itself.
 *
 * @param maxAttempts attempts in all, the first included; 1 means never retry
 * @param initialDelay delay before the second attempt
 * @param multiplier growth of the delay per attempt, at least 1
 * @param maxDelay the longest delay
 * @param jitter fraction of the delay added or removed at random, from 0 to 1
 * @param retryOn exception types worth retrying (and their subtypes); empty means every type
 * @param abortOn exception types that fail at once, skipping the remaining attempts; wins over retryOn
 */
public record RetryPolicy(
        int maxAttempts,
        Duration initialDelay,
        double multiplier,
        Duration maxDelay,
        double jitter,
        Set<Class<? extends Throwable>> retryOn,
        Set<Class<? extends Throwable>> abortOn) {

    /** 5 attempts, 1 s doubling up to 5 min, 20% jitter, every exception retried. */
    public static final RetryPolicy DEFAULT = builder().build();

    /** One attempt: a failure dead-letters at once. */
    public static final RetryPolicy NO_RETRY = builder().maxAttempts(1).build();

    public RetryPolicy {
        retryOn = Set.copyOf(retryOn);
        abortOn = Set.copyOf(abortOn);
    }

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this policy. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.maxAttempts = maxAttempts;
        b.initialDelay = initialDelay;
        b.multiplier = multiplier;
        b.maxDelay = maxDelay;
        b.jitter = jitter;
        b.retryOn = retryOn;
        b.abortOn = abortOn;
        return b;
    }

    /**
     * The delay before the next attempt after {@code failedAttempts} failures.
     *
     * @param random a number in [0, 1) that places the jitter
     */
    public Duration delayAfter(int failedAttempts, double random) {
        double base = initialDelay.toNanos() * Math.pow(multiplier, Math.max(0, failedAttempts - 1));
        double capped = Math.min(base, (double) maxDelay.toNanos());
        double spread = capped * jitter * (2 * random - 1);
        long nanos = (long) Math.max(0, Math.min(capped + spread, (double) Long.MAX_VALUE));
        return Duration.ofNanos(nanos);
    }

    /** Whether another attempt may follow this failure, the {@code failedAttempts}-th. */
    public boolean allowsRetry(Throwable error, int failedAttempts) {
        return failedAttempts < maxAttempts && isRetryable(error);
    }

    /** Whether the error is worth retrying at all (ignoring the attempt count). */
    public boolean isRetryable(Throwable error) {
        if (error instanceof PermanentFailureException
                || error instanceof LoopDetectedException
                || matches(abortOn, error)) {
            return false;
        }
        return retryOn.isEmpty() || matches(retryOn, error) || error instanceof RetryAfterException;
    }

    private static boolean matches(Set<Class<? extends Throwable>> types, Throwable error) {
        for (Class<? extends Throwable> t : types) {
            if (t.isInstance(error)) {
                return true;
            }
        }
        return false;
    }

    /** Builds a {@link RetryPolicy}; every setter checks its value and names it when it is wrong. */
    public static final class Builder {
        private int maxAttempts = 5;
        private Duration initialDelay = Duration.ofSeconds(1);
        private double multiplier = 2.0;
        private Duration maxDelay = Duration.ofMinutes(5);
        private double jitter = 0.2;
        private Set<Class<? extends Throwable>> retryOn = Set.of();
        private Set<Class<? extends Throwable>> abortOn = Set.of();

        private Builder() {}

        public Builder maxAttempts(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1 but was " + value);
            }
            this.maxAttempts = value;
            return this;
        }

        public Builder initialDelay(Duration value) {
            this.initialDelay = requireNonNegative("initialDelay", value);
            return this;
        }

        public Builder multiplier(double value) {
            if (!(value >= 1.0) || Double.isInfinite(value)) {
                throw new IllegalArgumentException(
                        "multiplier must be a finite number of at least 1.0 but was " + value);
            }
            this.multiplier = value;
            return this;
        }

        public Builder maxDelay(Duration value) {
            this.maxDelay = requireNonNegative("maxDelay", value);
            return this;
        }

        public Builder jitter(double value) {
            if (!(value >= 0.0 && value <= 1.0)) {
                throw new IllegalArgumentException("jitter must be between 0.0 and 1.0 but was " + value);
            }
            this.jitter = value;
            return this;
        }

        /** Only these exception types (and subtypes) are retried. */
        @SafeVarargs
        public final Builder retryOn(Class<? extends Throwable>... types) {
            this.retryOn = Set.of(types);
            return this;
        }

        /** These exception types (and subtypes) fail at once. */
        @SafeVarargs
        public final Builder abortOn(Class<? extends Throwable>... types) {
            this.abortOn = Set.of(types);
            return this;
        }

        public RetryPolicy build() {
            if (maxDelay.compareTo(initialDelay) < 0) {
                throw new IllegalArgumentException(
                        "maxDelay (" + maxDelay + ") must not be shorter than initialDelay (" + initialDelay + ")");
            }
            return new RetryPolicy(maxAttempts, initialDelay, multiplier, maxDelay, jitter, retryOn, abortOn);
        }

        private static Duration requireNonNegative(String name, Duration value) {
            Objects.requireNonNull(value, name);
            if (value.isNegative()) {
                throw new IllegalArgumentException(name + " must not be negative but was " + value);
            }
            return value;
        }
    }
}
