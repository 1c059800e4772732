package dev.keel.eventsourcing;

import com.fasterxml.jackson.databind.JsonNode;
import dev.keel.EventType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.UnaryOperator;

/**
 * An aggregate's type: its name, its decider, and how its commands, events and state are named and stored.
 * Streams of the type are named {@code name:id}, and publish their events to Keel's log under the event
 * type names, ordered by the stream.
 *
 * <p>Event and command classes are found from sealed roots: each permitted record gets the name
 * {@code <aggregate>.<kebab-case simple name>} ({@code Placed} of {@code order} is {@code order.placed}), unless
 * named otherwise with {@link Builder#eventType}. A class that is not a sealed root's is registered by hand.
 *
 * @param <C> the commands
 * @param <S> the state
 * @param <E> the events
 */
public final class AggregateType<C, S, E> {
    private final String name;
    private final Decider<C, S, E> decider;
    private final Class<?> commandRoot;
    private final Class<E> eventRoot;
    private final Function<? super S, String> label;
    private final Map<String, Class<? extends E>> eventsByName;
    private final Map<Class<?>, String> eventNames;
    private final Map<String, Class<? extends C>> commandsByName;
    private final Map<Class<?>, String> commandNames;
    private final Map<String, TreeMap<Integer, UnaryOperator<JsonNode>>> upcasters;
    private final Class<S> stateClass;
    private final SnapshotPolicy<? super S> snapshots;
    private final int snapshotRevision;

    private AggregateType(Builder<C, S, E> b) {
        this.name = b.name;
        this.decider = b.decider;
        this.commandRoot = b.commandRoot;
        this.eventRoot = b.eventRoot;
        this.label = b.label;
        this.eventsByName = Map.copyOf(b.eventsByName);
        Map<Class<?>, String> en = new HashMap<>();
        b.eventsByName.forEach((n, c) -> en.put(c, n));
        this.eventNames = Map.copyOf(en);
        this.commandsByName = Map.copyOf(b.commandsByName);
        Map<Class<?>, String> cn = new HashMap<>();
        b.commandsByName.forEach((n, c) -> cn.put(c, n));
        this.commandNames = Map.copyOf(cn);
        this.upcasters = Map.copyOf(b.upcasters);
        this.stateClass = b.stateClass;
        this.snapshots = b.snapshots;
        this.snapshotRevision = b.snapshotRevision;
    }

    /**
     * A builder of the type named {@code name} (one segment of an event type: letters, digits, {@code _} and
     * {@code -}, starting with a letter), whose commands are {@code commands} and events {@code events}.
     */
    public static <C, S, E> Builder<C, S, E> builder(
            String name, Decider<C, S, E> decider, Class<C> commands, Class<E> events) {
        return new Builder<>(name, decider, commands, events);
    }

    /** The type's name, the first segment of its event types and of its streams' names. */
    public String name() {
        return name;
    }

    /** The decider. */
    public Decider<C, S, E> decider() {
        return decider;
    }

    /** The stream of the aggregate with this id: {@code name:id}. */
    public String stream(String id) {
        return name + ":" + id;
    }

    /** Whether the command is this type's. */
    public boolean takes(Object command) {
        return commandRoot.isInstance(command);
    }

    /** The root of the commands routed to this type by their class. */
    public Class<?> commandClass() {
        return commandRoot;
    }

    /** The label of a state, counted per type by the store (a saga's step); null when the type has none. */
    public String label(S state) {
        return label == null ? null : label.apply(state);
    }

    /** The event root. */
    public Class<E> eventClass() {
        return eventRoot;
    }

    /** The event type name of an event. */
    public String eventName(Object event) {
        String n = eventNames.get(event.getClass());
        if (n == null) {
            throw new IllegalArgumentException("aggregate '" + name + "' has no event type for "
                    + event.getClass().getName() + "; register it with eventType(name, class)");
        }
        return n;
    }

    /** The names of its event types. */
    public java.util.Set<String> eventTypes() {
        return eventsByName.keySet();
    }

    /** The class of an event type name, or null. */
    public Class<? extends E> eventClass(String type) {
        return eventsByName.get(type);
    }

    /** The name a command class is stored under, for effects that carry commands. */
    public String commandName(Object command) {
        String n = commandNames.get(command.getClass());
        if (n == null) {
            throw new IllegalArgumentException("aggregate '" + name + "' has no name for command "
                    + command.getClass().getName() + "; register it with commandType(name, class)");
        }
        return n;
    }

    /** The command class of a stored command name, or null. */
    public Class<? extends C> commandClass(String commandName) {
        return commandsByName.get(commandName);
    }

    /** The revision events of the type are written with now: 1, plus one per upcaster registered for it. */
    public int revision(String eventType) {
        TreeMap<Integer, UnaryOperator<JsonNode>> up = upcasters.get(eventType);
        return up == null ? 1 : up.lastKey() + 1;
    }

    /**
     * Brings data written at {@code revision} to the current revision, through each upcaster in turn.
     *
     * @throws IllegalStateException when an upcaster is missing for a revision on the way
     */
    public JsonNode upcast(String eventType, int revision, JsonNode data) {
        TreeMap<Integer, UnaryOperator<JsonNode>> up = upcasters.get(eventType);
        int current = revision(eventType);
        JsonNode at = data;
        for (int r = revision; r < current; r++) {
            UnaryOperator<JsonNode> step = up.get(r);
            if (step == null) {
                throw new IllegalStateException("no upcaster from revision " + r + " of " + eventType);
            }
            at = Objects.requireNonNull(step.apply(at), () -> "the upcaster of " + eventType + " returned null");
        }
        return at;
    }

    /** The state's class for snapshots, or null when the type takes none. */
    public Class<S> stateClass() {
        return stateClass;
    }

    /** Whether the type saves snapshots. */
    public boolean takesSnapshots() {
        return snapshots != null;
    }

    /** Whether a snapshot is due after an append took the stream from {@code before} to {@code after}. */
    public boolean snapshotDue(long before, long after, S state) {
        return snapshots != null && snapshots.due(before, after, state);
    }

    /**
     * When to save a snapshot: asked after each append, with the versions before and after it and the state
     * it led to.
     *
     * @param <S> the state
     */
    @FunctionalInterface
    public interface SnapshotPolicy<S> {
        /** Whether to save a snapshot of {@code state} now. */
        boolean due(long before, long after, S state);

        /** Every {@code events} events: when an append crosses a multiple of it. */
        static <S> SnapshotPolicy<S> every(int events) {
            if (events < 1) {
                throw new IllegalArgumentException("a snapshot every " + events + " events: give 1 or more");
            }
            return (before, after, state) -> after / events != before / events;
        }
    }

    /** The revision of the state's shape; snapshots of another revision are ignored. */
    public int snapshotRevision() {
        return snapshotRevision;
    }

    @Override
    public String toString() {
        return "AggregateType[" + name + "]";
    }

    /** Configures an {@link AggregateType}. */
    public static final class Builder<C, S, E> {
        private final String name;
        private final Decider<C, S, E> decider;
        private final Class<?> commandRoot;
        private final Class<E> eventRoot;
        private Function<? super S, String> label;
        private final Map<String, Class<? extends E>> eventsByName = new HashMap<>();
        private final Map<String, Class<? extends C>> commandsByName = new HashMap<>();
        private final Map<String, TreeMap<Integer, UnaryOperator<JsonNode>>> upcasters = new HashMap<>();
        private Class<S> stateClass;
        private SnapshotPolicy<? super S> snapshots;
        private int snapshotRevision = 1;

        Builder(String name, Decider<C, S, E> decider, Class<?> commands, Class<E> events) {
            if (name == null || name.contains(".") || name.contains(":") || !EventType.isValid(name)) {
                throw new IllegalArgumentException("an aggregate type's name is one segment of letters, digits,"
                        + " '_' and '-' starting with a letter, such as 'order', but was '" + name + "'");
            }
            this.name = name;
            this.decider = Objects.requireNonNull(decider, "decider");
            this.commandRoot = Objects.requireNonNull(commands, "commands");
            this.eventRoot = Objects.requireNonNull(events, "events");
            for (Class<?> c : leaves(events)) {
                eventsByName.put(name + "." + kebab(c.getSimpleName()), c.asSubclass(events));
            }
            for (Class<?> c : leaves(commands)) {
                @SuppressWarnings("unchecked")
                Class<? extends C> command = (Class<? extends C>) c;
                commandsByName.put(name + "." + kebab(c.getSimpleName()), command);
            }
        }

        /** Names an event class (replacing the name it was given from its sealed root). */
        public Builder<C, S, E> eventType(String type, Class<? extends E> eventClass) {
            EventType.requireValid(type);
            Objects.requireNonNull(eventClass, "eventClass");
            eventsByName.values().removeIf(eventClass::equals);
            Class<? extends E> before = eventsByName.putIfAbsent(type, eventClass);
            if (before != null && !before.equals(eventClass)) {
                throw new IllegalArgumentException("event type '" + type + "' is " + before.getName() + " already");
            }
            return this;
        }

        /** Names a command class, for effects that carry it (replacing the name from its sealed root). */
        public Builder<C, S, E> commandType(String type, Class<? extends C> commandClass) {
            EventType.requireValid(type);
            Objects.requireNonNull(commandClass, "commandClass");
            commandsByName.values().removeIf(commandClass::equals);
            Class<? extends C> before = commandsByName.putIfAbsent(type, commandClass);
            if (before != null && !before.equals(commandClass)) {
                throw new IllegalArgumentException("command '" + type + "' is " + before.getName() + " already");
            }
            return this;
        }

        /**
         * Reads events of the type written at {@code fromRevision} as the next revision: the data (JSON) in,
         * the data of revision {@code fromRevision + 1} out. Registering revisions 1 and 2 makes 3 current.
         * Applied on every load and when an old event is read back for a subscriber.
         */
        public Builder<C, S, E> upcaster(String eventType, int fromRevision, UnaryOperator<JsonNode> upcaster) {
            EventType.requireValid(eventType);
            if (fromRevision < 1) {
                throw new IllegalArgumentException("revisions start at 1 but was " + fromRevision);
            }
            Objects.requireNonNull(upcaster, "upcaster");
            if (upcasters.computeIfAbsent(eventType, t -> new TreeMap<>()).putIfAbsent(fromRevision, upcaster)
                    != null) {
                throw new IllegalArgumentException(
                        "an upcaster from revision " + fromRevision + " of " + eventType + " is registered already");
            }
            return this;
        }

        /**
         * Saves a snapshot of the state every {@code events} events (a state read back as {@code stateClass}:
         * records of plain values, or classes Jackson reads), so loads fold only the events after it.
         */
        public Builder<C, S, E> snapshotEvery(int events, Class<S> stateClass) {
            return snapshots(stateClass, SnapshotPolicy.every(events));
        }

        /**
         * Saves a snapshot of the state (read back as {@code stateClass}) whenever the policy says so: by count,
         * by the state (a stream whose state grew large), or both.
         */
        public Builder<C, S, E> snapshots(Class<S> stateClass, SnapshotPolicy<? super S> policy) {
            this.stateClass = Objects.requireNonNull(stateClass, "stateClass");
            this.snapshots = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /**
         * Labels each state with a short name that the store counts per type ({@link
         * EventSourcing#labels(AggregateType)}), such as a saga's step.
         */
        public Builder<C, S, E> label(Function<? super S, String> value) {
            this.label = Objects.requireNonNull(value, "label");
            return this;
        }

        /** The revision of the state's shape: raise it when the state changes, and older snapshots are ignored. */
        public Builder<C, S, E> snapshotRevision(int revision) {
            if (revision < 1) {
                throw new IllegalArgumentException("snapshotRevision must be 1 or more but was " + revision);
            }
            this.snapshotRevision = revision;
            return this;
        }

        public AggregateType<C, S, E> build() {
            if (eventsByName.isEmpty()) {
                throw new IllegalArgumentException("aggregate '" + name + "' has no event types: make "
                        + eventRoot.getName() + " a sealed interface, or register each with eventType(name, class)");
            }
            for (String type : eventsByName.keySet()) {
                EventType.requireValid(type);
            }
            for (Map.Entry<String, TreeMap<Integer, UnaryOperator<JsonNode>>> u : upcasters.entrySet()) {
                if (!eventsByName.containsKey(u.getKey())) {
                    throw new IllegalArgumentException("an upcaster is registered for '" + u.getKey()
                            + "', which is not an event type of aggregate '" + name + "'");
                }
                int expect = 1;
                for (int from : u.getValue().keySet()) {
                    if (from != expect++) {
                        throw new IllegalArgumentException("the upcasters of " + u.getKey()
                                + " must go from each revision in turn, from 1; revision " + (expect - 1)
                                + " has none");
                    }
                }
            }
            return new AggregateType<>(this);
        }
    }

    /** The concrete classes under a sealed root (records and final classes), or the class itself. */
    private static List<Class<?>> leaves(Class<?> root) {
        List<Class<?>> out = new ArrayList<>();
        if (root.isSealed()) {
            for (Class<?> sub : root.getPermittedSubclasses()) {
                out.addAll(leaves(sub));
            }
        } else if (!root.isInterface() && !java.lang.reflect.Modifier.isAbstract(root.getModifiers())) {
            out.add(root);
        }
        return out;
    }

    /** {@code ItemAdded} as {@code item-added}. */
    static String kebab(String simpleName) {
        StringBuilder b = new StringBuilder(simpleName.length() + 4);
        for (int i = 0; i < simpleName.length(); i++) {
            char ch = simpleName.charAt(i);
            if (Character.isUpperCase(ch)) {
                if (i > 0) {
                    b.append('-');
                }
                b.append(Character.toLowerCase(ch));
            } else {
                b.append(ch);
            }
        }
        return b.toString();
    }
}
