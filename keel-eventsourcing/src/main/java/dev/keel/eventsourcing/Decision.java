package dev.keel.eventsourcing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * What a decider made of a command: events to append and effects to carry out after them ({@link Accepted}), or
 * a {@link Rejection} ({@link Rejected}), which appends nothing.
 *
 * @param <E> the decider's events
 */
public sealed interface Decision<E> permits Decision.Accepted, Decision.Rejected {

    /**
     * The command is taken: these events, in order, then these effects once the events are committed. Effects
     * need events to follow: a decision without events commits nothing, and a repeat of its command would issue
     * its effects again.
     */
    record Accepted<E>(List<E> events, List<Effect> effects) implements Decision<E> {
        public Accepted {
            events = List.copyOf(events);
            effects = List.copyOf(effects);
            if (events.isEmpty() && !effects.isEmpty()) {
                throw new IllegalArgumentException("effects run after their decision's events are committed, and"
                        + " this decision has none: append an event that records why the effects are wanted");
            }
        }

        /** This decision with effects added after its own. */
        public Accepted<E> withEffects(Effect... more) {
            List<Effect> all = new ArrayList<>(effects);
            all.addAll(Arrays.asList(more));
            return new Accepted<>(events, all);
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

    /** Why the command was refused; empty when it was taken. */
    default Optional<Rejection> rejected() {
        return this instanceof Rejected<E> r ? Optional.of(r.rejection()) : Optional.empty();
    }

    /**
     * These events, in order. Add effects with {@link Accepted#withEffects}; where the event type must be the
     * decider's (not the single event's class), use {@link #acceptAll(Collection, Collection)}, which takes it
     * from the target.
     */
    @SafeVarargs
    static <E> Accepted<E> accept(E... events) {
        return new Accepted<>(Arrays.asList(events), List.of());
    }

    /** These events, in order. */
    static <E> Accepted<E> acceptAll(Collection<? extends E> events) {
        return new Accepted<>(List.copyOf(events), List.of());
    }

    /** These events, in order, then these effects once they are committed. */
    static <E> Accepted<E> acceptAll(Collection<? extends E> events, Collection<? extends Effect> effects) {
        return new Accepted<>(List.copyOf(events), List.copyOf(effects));
    }

    /** Taken, with nothing to append: the command was done already (an idempotent repeat). */
    static <E> Accepted<E> nothing() {
        return new Accepted<>(List.of(), List.of());
    }

    /** Refused, with a code and a message saying why. */
    static <E> Decision<E> reject(String code, String message) {
        return new Rejected<>(new Rejection(code, message));
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
