package dev.keel.eventsourcing;

import dev.keel.EventType;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * A process manager: a stream per instance, whose decider takes the events it observes (and its own commands:
 * timeouts, a cancel) and decides its own events and the effects that drive other aggregates.
 *
 * <p>Everything an aggregate has, a saga has: its state is its events folded (persisted, versioned, cached); an
 * observed event is applied once, by its id, however often it is delivered; its {@link Effect.Send} commands are
 * carried through Keel's log and applied once each, with the command subscription's retries and dead letters;
 * its {@link Effect.Schedule} commands are durable timeouts, delivered when due after any restart, and acted on
 * only in the states that expect them (the decider says so: after completion a timeout decides nothing).
 * Compensations are commands like any other: a saga that records the steps done can send their compensations
 * newest first, one at a time, each after the previous one's outcome.
 *
 * <p>Each observed event type names how to find the instance it belongs to (its correlation): an event whose
 * correlation is null is not for this saga. Whether an event starts an instance is the decider's answer in its
 * initial state.
 *
 * @param <S> the saga's state
 * @param <E> the saga's own events
 */
public final class Saga<S, E> {
    /** An event type the saga observes, the class it reads it as, and how it finds the instance. */
    record Trigger<T>(String eventType, Class<T> eventClass, Function<? super T, String> correlation) {}

    private final AggregateType<Object, S, E> type;
    private final List<Trigger<?>> triggers;

    private Saga(AggregateType<Object, S, E> type, List<Trigger<?>> triggers) {
        this.type = type;
        this.triggers = List.copyOf(triggers);
    }

    /**
     * A builder of the saga named {@code name} (its streams are {@code name:id}), whose decider takes observed
     * events and the saga's own commands ({@code commands}: timeouts, cancel; routed here by their class), and
     * whose own events are {@code events}.
     */
    public static <S, E> Builder<S, E> builder(
            String name, Decider<Object, S, E> decider, Class<?> commands, Class<E> events) {
        return new Builder<>(name, decider, commands, events);
    }

    /** The saga's name. */
    public String name() {
        return type.name();
    }

    /** The aggregate type its instances are streams of. */
    public AggregateType<Object, S, E> type() {
        return type;
    }

    /** The event types it observes. */
    public List<String> observes() {
        return triggers.stream().map(Trigger::eventType).toList();
    }

    /** The trigger of an event type, or null. */
    Trigger<?> trigger(String eventType) {
        for (Trigger<?> t : triggers) {
            if (t.eventType().equals(eventType)) {
                return t;
            }
        }
        return null;
    }

    /** The subscription that feeds it. */
    String subscription() {
        return "saga:" + type.name();
    }

    /** Configures a {@link Saga}. */
    public static final class Builder<S, E> {
        private final AggregateType.Builder<Object, S, E> type;
        private final List<Trigger<?>> triggers = new ArrayList<>();

        private Builder(String name, Decider<Object, S, E> decider, Class<?> commands, Class<E> events) {
            this.type = new AggregateType.Builder<>(name, decider, commands, events);
            type.label(state -> state == null ? "" : state.getClass().getSimpleName());
        }

        /** Observes events of the type, read as {@code eventClass}; {@code correlation} names the instance. */
        public <T> Builder<S, E> on(String eventType, Class<T> eventClass, Function<? super T, String> correlation) {
            EventType.requireValid(eventType);
            Objects.requireNonNull(eventClass, "eventClass");
            Objects.requireNonNull(correlation, "correlation");
            for (Trigger<?> t : triggers) {
                if (t.eventType().equals(eventType)) {
                    throw new IllegalArgumentException("the saga observes '" + eventType + "' already");
                }
            }
            triggers.add(new Trigger<>(eventType, eventClass, correlation));
            return this;
        }

        /** Labels the states counted in the saga's meter; by default the state's class's simple name. */
        public Builder<S, E> label(Function<? super S, String> value) {
            type.label(value);
            return this;
        }

        /** Snapshots, as for an aggregate. */
        public Builder<S, E> snapshotEvery(int events, Class<S> stateClass) {
            type.snapshotEvery(events, stateClass);
            return this;
        }

        public Saga<S, E> build() {
            if (triggers.isEmpty()) {
                throw new IllegalArgumentException("a saga observes at least one event type; add on(type, ...)");
            }
            return new Saga<>(type.build(), triggers);
        }
    }
}
