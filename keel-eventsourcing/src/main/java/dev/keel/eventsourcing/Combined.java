package dev.keel.eventsourcing;

import java.util.Objects;

/**
 * The state of two deciders run as one ({@link Decider#combine}).
 *
 * @param first the first decider's state
 * @param second the second decider's state
 */
public record Combined<A, B>(A first, B second) {
    public Combined {
        Objects.requireNonNull(first, "first");
        Objects.requireNonNull(second, "second");
    }
}
