package dev.keel.eventsourcing;

import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * An event-sourced aggregate as three pure functions: where it starts ({@link #initialState()}), what a command
 * becomes in a state ({@link #decide}: events and effects, or a rejection), and what an event does to a state
 * ({@link #evolve}). The state of a stream is its events folded over the initial state; nothing else is stored
 * (snapshots only save the fold).
 *
 * <p>Write one as a class or with {@link #of}; states, commands and events are best records and sealed
 * interfaces, so that {@code switch} checks every case. Both functions must be pure: the runtime may call
 * {@code decide} again after a conflict, and {@code evolve} on every load.
 *
 * @param <C> commands
 * @param <S> states
 * @param <E> events
 */
public interface Decider<C, S, E> {

    /** The state of a stream with no events. */
    S initialState();

    /** What the command becomes in this state: events and effects, or a rejection. Never null. */
    Decision<E> decide(C command, S state);

    /** The state after the event. Never null. */
    S evolve(S state, E event);

    /** The state after the events, from the initial state. */
    default S fold(Iterable<? extends E> events) {
        return fold(initialState(), events);
    }

    /** The state after the events, from the given state. */
    default S fold(S state, Iterable<? extends E> events) {
        S s = state;
        for (E e : events) {
            s = evolve(s, e);
        }
        return s;
    }

    /** A decider of the three functions. */
    static <C, S, E> Decider<C, S, E> of(
            S initialState,
            BiFunction<? super C, ? super S, Decision<E>> decide,
            BiFunction<? super S, ? super E, ? extends S> evolve) {
        Objects.requireNonNull(initialState, "initialState");
        Objects.requireNonNull(decide, "decide");
        Objects.requireNonNull(evolve, "evolve");
        return new Decider<>() {
            @Override
            public S initialState() {
                return initialState;
            }

            @Override
            public Decision<E> decide(C command, S state) {
                return decide.apply(command, state);
            }

            @Override
            public S evolve(S state, E event) {
                return evolve.apply(state, event);
            }
        };
    }

    /**
     * This decider over a larger state {@code L} of which its state is a part: {@code part} reads the part,
     * {@code with} returns the larger state with the part replaced. The larger state starts as {@code initial},
     * whose part should be this decider's initial state.
     */
    default <L> Decider<C, L, E> scoped(
            L initial, Function<? super L, ? extends S> part, BiFunction<? super L, ? super S, ? extends L> with) {
        Objects.requireNonNull(initial, "initial");
        Objects.requireNonNull(part, "part");
        Objects.requireNonNull(with, "with");
        if (!Objects.equals(part.apply(initial), initialState())) {
            throw new IllegalArgumentException("the larger initial state's part is " + part.apply(initial)
                    + ", not this decider's initial state " + initialState());
        }
        Decider<C, S, E> inner = this;
        return of(
                initial,
                (command, state) -> inner.decide(command, part.apply(state)),
                (state, event) -> with.apply(state, inner.evolve(part.apply(state), event)));
    }

    /**
     * Two deciders as one, over the pair of their states: a command goes to the decider whose command type it
     * is, an event to the decider whose event type it is. The two deciders' command types, and their event
     * types, must be disjoint (neither a subtype of the other), so that a stream's events always go back to the
     * decider that decided them; a value of both, or of neither, is an {@link UnknownMessageException}.
     *
     * @param <C> what commands of the combination are (often {@code Object}, or a sealed interface over both)
     * @param <E> what events of the combination are
     * @throws IllegalArgumentException when the command types, or the event types, overlap
     */
    static <C, E, C1 extends C, S1, E1 extends E, C2 extends C, S2, E2 extends E>
            Decider<C, Combined<S1, S2>, E> combine(
                    Decider<C1, S1, E1> first,
                    Class<C1> firstCommands,
                    Class<E1> firstEvents,
                    Decider<C2, S2, E2> second,
                    Class<C2> secondCommands,
                    Class<E2> secondEvents) {
        Objects.requireNonNull(first, "first");
        Objects.requireNonNull(second, "second");
        requireDisjoint("command", firstCommands, secondCommands);
        requireDisjoint("event", firstEvents, secondEvents);
        return of(
                new Combined<>(first.initialState(), second.initialState()),
                (C command, Combined<S1, S2> state) -> {
                    boolean toFirst = firstCommands.isInstance(command);
                    if (toFirst == secondCommands.isInstance(command)) {
                        throw new UnknownMessageException("command", command, firstCommands, secondCommands);
                    }
                    return toFirst
                            ? first.decide(firstCommands.cast(command), state.first())
                                    .<E>map(e -> e)
                            : second.decide(secondCommands.cast(command), state.second())
                                    .<E>map(e -> e);
                },
                (Combined<S1, S2> state, E event) -> {
                    boolean toFirst = firstEvents.isInstance(event);
                    if (toFirst == secondEvents.isInstance(event)) {
                        throw new UnknownMessageException("event", event, firstEvents, secondEvents);
                    }
                    return toFirst
                            ? new Combined<>(first.evolve(state.first(), firstEvents.cast(event)), state.second())
                            : new Combined<>(state.first(), second.evolve(state.second(), secondEvents.cast(event)));
                });
    }

    private static void requireDisjoint(String kind, Class<?> a, Class<?> b) {
        Objects.requireNonNull(a, kind + " type of the first decider");
        Objects.requireNonNull(b, kind + " type of the second decider");
        if (a.isAssignableFrom(b) || b.isAssignableFrom(a)) {
            throw new IllegalArgumentException("the two deciders' " + kind + " types " + a.getName() + " and "
                    + b.getName() + " overlap: each " + kind + " must belong to one of them");
        }
    }
}
