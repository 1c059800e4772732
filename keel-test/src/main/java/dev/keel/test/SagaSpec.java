package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.Saga;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * One saga instance run by hand on a {@link TestClock}: feed it the events it observes, move the clock on, and
 * its timeouts fire when due, in the states they find. What it sends and emits is collected to check.
 *
 * <pre>{@code
 * SagaSpec<State, Event> spec = SagaSpec.of(CheckoutSaga.saga(Duration.ofSeconds(30)), "o-1", clock);
 * spec.observe(new Order.Placed("o-1", ...)).thenSent(new Payment.Charge("o-1", 900, "visa"));
 * spec.advance(Duration.ofSeconds(31)).thenSent(new Order.Cancel("o-1", "payment timed out"));
 * }</pre>
 *
 * <p>Timeouts are the {@link Effect.Schedule} effects addressed to this instance; {@link Effect.Send} effects
 * and effects for other streams are collected, not run. Rejections are collected too ({@link #rejections()}).
 *
 * @param <S> the saga's state
 * @param <E> the saga's events
 */
public final class SagaSpec<S, E> {
    private record Due(Instant at, long order, Object command) {}

    private final Saga<S, E> saga;
    private final String id;
    private final TestClock clock;
    private final List<Due> timers = new ArrayList<>();
    private final List<E> history = new ArrayList<>();
    private final List<Object> sent = new ArrayList<>();
    private final List<Effect.Emit> emitted = new ArrayList<>();
    private final List<String> rejections = new ArrayList<>();
    private long scheduled;
    private S state;
    private int checkedSent;

    private SagaSpec(Saga<S, E> saga, String id, TestClock clock) {
        this.saga = saga;
        this.id = id;
        this.clock = clock;
        this.state = saga.type().decider().initialState();
    }

    /** The instance {@code id} of the saga, in its initial state, on the clock. */
    public static <S, E> SagaSpec<S, E> of(Saga<S, E> saga, String id, TestClock clock) {
        return new SagaSpec<>(
                Objects.requireNonNull(saga, "saga"), Objects.requireNonNull(id, "id"), Objects.requireNonNull(clock));
    }

    /** Feeds an event (or a command of the saga's own, such as a cancel) to the instance, now. */
    public SagaSpec<S, E> observe(Object input) {
        apply(Objects.requireNonNull(input, "input"));
        return this;
    }

    /** Moves the clock on, firing each timeout that falls due on the way, in due order, in the state it finds. */
    public SagaSpec<S, E> advance(Duration by) {
        Instant until = clock.instant().plus(by);
        while (true) {
            Due next = timers.stream()
                    .filter(d -> !d.at().isAfter(until))
                    .min(Comparator.comparing(Due::at).thenComparingLong(Due::order))
                    .orElse(null);
            if (next == null) {
                break;
            }
            timers.remove(next);
            clock.set(next.at());
            apply(next.command());
        }
        clock.set(until);
        return this;
    }

    private void apply(Object input) {
        Decision<E> decision = saga.type().decider().decide(input, state);
        if (decision instanceof Decision.Rejected<E> r) {
            rejections.add(r.rejection().code());
            return;
        }
        for (E e : decision.events()) {
            state = saga.type().decider().evolve(state, e);
            history.add(e);
        }
        for (Effect effect : decision.effects()) {
            switch (effect) {
                case Effect.Schedule s
                when s.streamId().equals(id) ->
                    timers.add(new Due(clock.instant().plus(s.delay()), scheduled++, s.command()));
                case Effect.Schedule s -> sent.add(s.command());
                case Effect.Send s -> sent.add(s.command());
                case Effect.Emit e -> emitted.add(e);
            }
        }
    }

    /** Checks the commands sent since the last such check, in order. */
    public SagaSpec<S, E> thenSent(Object... commands) {
        assertThat(sent.subList(checkedSent, sent.size()))
                .as("commands sent by %s %s in %s", saga.name(), id, state)
                .containsExactly(commands);
        checkedSent = sent.size();
        return this;
    }

    /** Checks that nothing was sent since the last check of what was sent. */
    public SagaSpec<S, E> thenSentNothing() {
        return thenSent();
    }

    /** Checks the instance's state. */
    public SagaSpec<S, E> thenState(S expected) {
        assertThat(state).as("state of %s %s", saga.name(), id).isEqualTo(expected);
        return this;
    }

    /** The instance's state. */
    public S state() {
        return state;
    }

    /** Every event the instance recorded. */
    public List<E> history() {
        return List.copyOf(history);
    }

    /** The timeouts still pending. */
    public int pendingTimeouts() {
        return timers.size();
    }

    /** The effects that emitted events. */
    public List<Effect.Emit> emitted() {
        return List.copyOf(emitted);
    }

    /** The codes of the rejections the instance answered with. */
    public List<String> rejections() {
        return List.copyOf(rejections);
    }
}
