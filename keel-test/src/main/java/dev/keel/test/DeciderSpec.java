package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.Rejection;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Given events, when a command, then events, a rejection or effects: a decider's behaviour as a test reads it.
 *
 * <pre>{@code
 * DeciderSpec.given(Orders.DECIDER, new Placed("o-1", 4200))
 *         .when(new Pay("o-1"))
 *         .thenEvents(new Paid("o-1"))
 *         .thenState(new Settled("o-1"));
 * }</pre>
 *
 * <p>Failures are AssertJ assertion errors that show the decision the decider made.
 *
 * @param <C> commands
 * @param <S> states
 * @param <E> events
 */
public final class DeciderSpec<C, S, E> {
    private final Decider<C, S, E> decider;
    private final S state;

    private DeciderSpec(Decider<C, S, E> decider, S state) {
        this.decider = decider;
        this.state = state;
    }

    /** The decider's state after these events, from its initial state. */
    @SafeVarargs
    public static <C, S, E> DeciderSpec<C, S, E> given(Decider<C, S, E> decider, E... history) {
        Objects.requireNonNull(decider, "decider");
        return new DeciderSpec<>(decider, decider.fold(Arrays.asList(history)));
    }

    /** The decider's state after these events, from its initial state. */
    public static <C, S, E> DeciderSpec<C, S, E> givenAll(Decider<C, S, E> decider, List<? extends E> history) {
        Objects.requireNonNull(decider, "decider");
        return new DeciderSpec<>(decider, decider.fold(history));
    }

    /** The decision on the command in the given state. */
    public Then<S, E> when(C command) {
        return new Then<>(decider, state, command, decider.decide(command, state));
    }

    /** What was decided, to check. */
    public static final class Then<S, E> {
        private final Decider<?, S, E> decider;
        private final S before;
        private final Object command;
        private final Decision<E> decision;

        private Then(Decider<?, S, E> decider, S before, Object command, Decision<E> decision) {
            this.decider = decider;
            this.before = before;
            this.command = command;
            this.decision = Objects.requireNonNull(decision, "the decider returned no decision for " + command);
        }

        /** Accepted with exactly these events, in order. */
        @SafeVarargs
        public final Then<S, E> thenEvents(E... expected) {
            assertThat(decision.accepted())
                    .as("%s in %s was %s, not accepted", command, before, decision)
                    .isTrue();
            assertThat(decision.events())
                    .as("events of %s in %s", command, before)
                    .containsExactly(expected);
            return this;
        }

        /** Accepted with no events: a repeat or a command that changes nothing in this state. */
        public Then<S, E> thenNothing() {
            assertThat(decision.accepted())
                    .as("%s in %s was %s, not accepted", command, before, decision)
                    .isTrue();
            assertThat(decision.events())
                    .as("events of %s in %s", command, before)
                    .isEmpty();
            return this;
        }

        /** Rejected with this code. */
        public Then<S, E> thenRejected(String code) {
            assertThat(decision.rejected().map(Rejection::code).orElse(null))
                    .as("rejection code of %s in %s, decided %s", command, before, decision)
                    .isEqualTo(code);
            return this;
        }

        /** With exactly these effects, in order. */
        public Then<S, E> thenEffects(Effect... expected) {
            assertThat(decision.effects())
                    .as("effects of %s in %s", command, before)
                    .containsExactly(expected);
            return this;
        }

        /** The state after the decision's events is this one. */
        public Then<S, E> thenState(S expected) {
            assertThat(decider.fold(before, decision.events()))
                    .as("state after %s in %s", command, before)
                    .isEqualTo(expected);
            return this;
        }

        /** The decision, for checks of your own. */
        public Decision<E> decision() {
            return decision;
        }
    }
}
