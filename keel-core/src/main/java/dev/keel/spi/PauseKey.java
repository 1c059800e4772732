package dev.keel.spi;

import java.util.Objects;

/**
 * What a stored pause holds back: one subscription (an operator's pause), or every subscription that uses a
 * circuit breaker of that name (an open circuit). Engines store it as {@link #storageKey()}.
 *
 * @param kind what is paused
 * @param name the subscription's or the breaker's name
 */
public record PauseKey(Kind kind, String name) {
    /** What a pause holds back. */
    public enum Kind {
        /** One subscription, by name. */
        SUBSCRIPTION("subscription:"),
        /** The subscriptions using a circuit breaker, by the breaker's name. */
        CIRCUIT("circuit:");

        private final String prefix;

        Kind(String prefix) {
            this.prefix = prefix;
        }
    }

    public PauseKey {
        Objects.requireNonNull(kind, "kind");
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a pause key needs a name but was '" + name + "'");
        }
    }

    /** The pause of a subscription. */
    public static PauseKey subscription(String name) {
        return new PauseKey(Kind.SUBSCRIPTION, name);
    }

    /** The pause of the subscriptions behind a circuit breaker. */
    public static PauseKey circuit(String breaker) {
        return new PauseKey(Kind.CIRCUIT, breaker);
    }

    /** The key as stored: {@code subscription:<name>} or {@code circuit:<name>}. */
    public String storageKey() {
        return kind.prefix + name;
    }

    /**
     * Reads a stored key.
     *
     * @throws IllegalArgumentException for a key that is neither form
     */
    public static PauseKey parse(String stored) {
        for (Kind k : Kind.values()) {
            if (stored != null && stored.startsWith(k.prefix) && stored.length() > k.prefix.length()) {
                return new PauseKey(k, stored.substring(k.prefix.length()));
            }
        }
        throw new IllegalArgumentException(
                "'" + stored + "' is not a pause key (subscription:<name> or circuit:<name>)");
    }
}
