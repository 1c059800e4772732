package dev.keel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A named consumer: the event types it wants, the handler that receives them, its middleware and its
 * delivery policy. Every matching subscription gets every event; one subscription's failures never re-run
 * another's. The name keys its cursors, so keep it stable across restarts.
 *
 * @param name unique name
 * @param types patterns over event types (see {@link TypePattern})
 * @param payloadType the class the handler takes; event data is converted to it
 * @param handler the handler
 * @param middleware interceptors, outermost first
 * @param policy ordering, retries, timeout
 * @param ephemeral true for a subscription that lives only in this process (streams): it starts at the
 *     head of each lane and its position is not meant to survive a restart
 * @param tenant when set, the subscription receives only events of this tenant; null for every tenant
 */
public record Subscription(
        String name,
        List<TypePattern> types,
        Class<?> payloadType,
        Handler<?> handler,
        List<Middleware> middleware,
        DeliveryPolicy policy,
        boolean ephemeral,
        String tenant) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:#*-]{0,199}");

    public Subscription {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(
                    "subscription name '" + name
                            + "' is invalid: use 1 to 200 letters, digits, '.', '_', ':', '#', '*' or '-', starting with a letter or digit");
        }
        types = List.copyOf(types);
        if (types.isEmpty()) {
            throw new IllegalArgumentException(
                    "subscription '" + name + "' names no event types; add a pattern such as 'order.*'");
        }
        Objects.requireNonNull(payloadType, "payloadType");
        Objects.requireNonNull(handler, "subscription '" + name + "' has no handler");
        middleware = List.copyOf(middleware);
        Objects.requireNonNull(policy, "policy");
    }

    /** A builder for a subscription with this name. */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** Whether the subscription wants this event: its type matches and, when the subscription has a tenant, its tenant. */
    public boolean accepts(Event<?> event) {
        return (tenant == null || tenant.equals(event.tenant())) && matches(event.type());
    }

    /** Whether the subscription wants events of this type (whatever their tenant). */
    public boolean matches(String type) {
        for (TypePattern p : types) {
            if (p.matches(type)) {
                return true;
            }
        }
        return false;
    }

    /** Builds a {@link Subscription}. */
    public static final class Builder {
        private final String name;
        private final List<TypePattern> types = new ArrayList<>();
        private Class<?> payloadType = Object.class;
        private Handler<?> handler;
        private final List<Middleware> middleware = new ArrayList<>();
        private OrderingMode ordering = DeliveryPolicy.DEFAULT.ordering();
        private RetryPolicy retry = RetryPolicy.DEFAULT;
        private final List<DeliveryPolicy.TypeRetry> overrides = new ArrayList<>();
        private Duration timeout = DeliveryPolicy.DEFAULT_TIMEOUT;
        private Duration timeoutGrace = Duration.ZERO;
        private boolean ephemeral;
        private String tenant;

        private Builder(String name) {
            this.name = name;
        }

        /** Event type patterns to receive, such as {@code order.*}. */
        public Builder types(String... patterns) {
            for (String p : patterns) {
                types.add(TypePattern.of(p));
            }
            return this;
        }

        /** The handler, with the class event data is converted to. */
        public <T> Builder handler(Class<T> type, Handler<T> h) {
            this.payloadType = Objects.requireNonNull(type, "type");
            this.handler = Objects.requireNonNull(h, "handler");
            return this;
        }

        /** Adds middleware; the first added runs outermost. */
        public Builder use(Middleware... m) {
            middleware.addAll(List.of(m));
            return this;
        }

        public Builder ordering(OrderingMode mode) {
            this.ordering = Objects.requireNonNull(mode, "ordering");
            return this;
        }

        public Builder retry(RetryPolicy policy) {
            this.retry = Objects.requireNonNull(policy, "retry");
            return this;
        }

        /** A retry policy for the types matching the pattern, overriding {@link #retry}. */
        public Builder retryFor(String typePattern, RetryPolicy policy) {
            overrides.add(new DeliveryPolicy.TypeRetry(TypePattern.of(typePattern), policy));
            return this;
        }

        /** How long one attempt may run; null for no limit. */
        public Builder timeout(Duration value) {
            this.timeout = value;
            return this;
        }

        /**
         * How long past its timeout a handler is left to finish before it is interrupted: one that finishes within
         * the grace succeeds, and is counted as a grace recovery; zero (the default) interrupts at the timeout.
         */
        public Builder timeoutGrace(Duration value) {
            this.timeoutGrace = value;
            return this;
        }

        /** Marks the subscription as living only in this process. */
        public Builder ephemeral(boolean value) {
            this.ephemeral = value;
            return this;
        }

        /** Receives only the events of this tenant (null, the default, for every tenant). */
        public Builder tenant(String value) {
            this.tenant = value;
            return this;
        }

        public Subscription build() {
            return new Subscription(
                    name,
                    types,
                    payloadType,
                    handler,
                    middleware,
                    new DeliveryPolicy(ordering, retry, overrides, timeout, timeoutGrace),
                    ephemeral,
                    tenant);
        }
    }
}
