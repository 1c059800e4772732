package dev.keel.eventsourcing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * What a decider made of a command: events to append and effects to carry out after them ({@link Accepted}), or
 * a {@link Rejection} ({@link Rejected}), which appends nothing.
 *
 * @param <E> the decider's events
 */
public sealed interface Decision<E> permits Decision.Accepted, Decision.Rejected {

    /** The command is taken: these events, in order, then these effects once the events are committed. */
    record Accepted<E>(List<E> events, List<Effect> effects) implements Decision<E> {
        public Accepted {
            events = List.copyOf(events);
            effects = List.copyOf(effects);
        }
    }

    /** The command is refused: nothing is appended and no effect runs. */
    record Rejected<E>(Rejection rejection) implements Decision<E> {
        public Rejected {
            Objects.requireNonNull(rejection, "rejection");
        }

        @Override
        public List<E> events() {
            return List.of();
        }

        @Override
        public List<Effect> effects() {
            return List.of();
        }
    }

    /** The events to append; none when rejected. */
    List<E> events();

    /** The effects to carry out after the events are committed; none when rejected. */
    List<Effect> effects();

    /** Whether the command was taken. */
    default boolean accepted() {
        return this instanceof Accepted;
    }

    /** These events, in order. */
    @SafeVarargs
    static <E> Decision<E> accept(E... events) {
        return new Accepted<>(Arrays.asList(events), List.of());
    }

    /** These events, in order. */
    static <E> Decision<E> accept(List<? extends E> events) {
        return new Accepted<>(List.copyOf(events), List.of());
    }

    /** Taken, with nothing to append: the command was done already (an idempotent repeat). */
    static <E> Decision<E> nothing() {
        return new Accepted<>(List.of(), List.of());
    }

    /** Refused, with a code and a message saying why. */
    static <E> Decision<E> reject(String code, String message) {
        return new Rejected<>(new Rejection(code, message));
    }

    /**
     * This decision with effects added after its own.
     *
     * @throws IllegalStateException when it is a rejection, which carries out nothing
     */
    default Decision<E> withEffects(Effect... more) {
        if (this instanceof Rejected<E> r) {
            throw new IllegalStateException(
                    "rejection '" + r.rejection().code() + "' carries no effects: a refused command changes nothing");
        }
        List<Effect> all = new ArrayList<>(effects());
        all.addAll(Arrays.asList(more));
        return new Accepted<>(events(), all);
    }

    /** This decision with each event mapped (effects and rejections unchanged). */
    default <F> Decision<F> map(Function<? super E, ? extends F> f) {
        if (this instanceof Rejected<E> r) {
            return new Rejected<>(r.rejection());
        }
        List<F> mapped = new ArrayList<>(events().size());
        for (E e : events()) {
            mapped.add(f.apply(e));
        }
        return new Accepted<>(mapped, effects());
    }
}
