package dev.keel.eventsourcing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.EventIds;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.Subscription;
import dev.keel.eventsourcing.internal.StreamQueues;
import dev.keel.eventsourcing.spi.CommandAlreadyAppliedException;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.NewEvent;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.eventsourcing.spi.Snapshot;
import dev.keel.eventsourcing.spi.StreamWrite;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.io.IOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Command handling for event-sourced aggregates on a Keel runtime and an event store in its journal's database.
 *
 * <p>{@link #send(String, Object)} routes a command by its class to its aggregate type, loads the stream (from
 * the cache, else its snapshot and the events after it), decides, and appends the events with the version it
 * decided on. The events enter Keel's log in the same transaction, so every subscription sees them; the
 * decision's effects go with them: {@link Effect.Emit} as events of their own, {@link Effect.Send} and
 * {@link Effect.Schedule} as commands ({@value #COMMAND_TYPE}) that this runtime's subscription
 * {@value #COMMAND_SUBSCRIPTION} applies once each (by their id), with the subscription's retries and dead
 * letters.
 *
 * <p>Commands to one stream are applied one at a time, in the order sent; different streams in parallel, their
 * appends sharing the journal's group commits. A version conflict (another instance appended first, or the
 * cache was stale) empties the stream's cache entry and decides again on what the store holds, up to
 * {@link Builder#retriesOnConflict(int)} times.
 *
 * <p>Threads: each busy stream has one runner, a virtual thread (it blocks on the database), which alone
 * loads, decides and appends for it; the cache is Caffeine's, written only by a stream's runner.
 */
public final class EventSourcing implements AutoCloseable {
    /** The type of the log events that carry commands of {@link Effect.Send} and {@link Effect.Schedule}. */
    public static final String COMMAND_TYPE = "keel.es.command";
    /** The subscription that applies carried commands. */
    public static final String COMMAND_SUBSCRIPTION = "keel-es-commands";
    /** How long the command subscription waits for a carried command before failing the attempt. */
    static final long CARRIED_COMMAND_WAIT_SECONDS = 30;

    private static final Logger log = LoggerFactory.getLogger(EventSourcing.class);
    private static final int LOAD_PAGE = 4096;

    private final Keel keel;
    private final EventStore store;
    private final Map<String, AggregateType<?, ?, ?>> byName;
    private final List<AggregateType<?, ?, ?>> types;
    private final ObjectMapper mapper;
    private final int retries;
    private final Clock clock;
    private final Cache<String, StreamState<Object>> cache;
    private final ExecutorService runners = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("keel-es-stream-", 0).factory());
    private final StreamQueues<Job> queues = new StreamQueues<>(runners, this::run);
    private final Meters meters;
    private final Map<Class<?>, ObjectReader> readers = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private record Job(
            AggregateType<?, ?, ?> type,
            String id,
            Object command,
            ExpectedVersion expected,
            String commandId,
            Event<?> cause,
            CompletableFuture<Committed> done,
            long startNanos) {}

    private EventSourcing(Builder b) {
        this.keel = b.keel;
        this.store = b.store;
        this.types = List.copyOf(b.types.values());
        this.byName = Map.copyOf(b.types);
        this.mapper = b.mapper != null ? b.mapper : defaultMapper();
        this.retries = b.retries;
        this.clock = b.clock;
        this.cache = b.cacheSize == 0
                ? null
                : Caffeine.newBuilder().maximumSize(b.cacheSize).build();
        this.meters = new Meters(b.registry);
        if (b.carryCommands) {
            keel.subscribe(Subscription.builder(COMMAND_SUBSCRIPTION)
                    .types(COMMAND_TYPE)
                    .handler(CommandMessage.class, this::carry)
                    .build());
        }
    }

    /** A builder over a started or starting runtime and the event store in its journal's database. */
    public static Builder builder(Keel keel, EventStore store) {
        return new Builder(keel, store);
    }

    static ObjectMapper defaultMapper() {
        return new ObjectMapper()
                .registerModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    // ---- commands ----

    /**
     * Sends a command to the aggregate with this id, of the type that takes the command's class.
     *
     * @return completes with what the command came to once its events are durable; fails with
     *     {@link CommandRejectedException} (the decider's answer), {@link StreamConflictException} (conflicts
     *     outlasted the retries), {@link StreamDeletedException}, {@link EventDecodingException}, or the
     *     journal's failure
     * @throws UnknownStreamTypeException when no registered aggregate type takes the command
     */
    public CompletableFuture<Committed> send(String id, Object command) {
        return submit(id, command, null, null, keel.eventBeingHandled().orElse(null));
    }

    /**
     * Sends a command decided on a known version: fails with {@link StreamConflictException} (and is not
     * retried) when the stream is at another.
     */
    public CompletableFuture<Committed> send(String id, Object command, ExpectedVersion expected) {
        Objects.requireNonNull(expected, "expected");
        return submit(id, command, expected, null, keel.eventBeingHandled().orElse(null));
    }

    /**
     * Sends a command at most once by its id: a command with an id applied before is not decided again and
     * completes with {@link Committed#repeated()}. For clients that may send a command twice (a retried HTTP
     * request); ids are kept by the store with the stream.
     */
    public CompletableFuture<Committed> sendOnce(String commandId, String id, Object command) {
        Objects.requireNonNull(commandId, "commandId");
        return submit(id, command, null, commandId, keel.eventBeingHandled().orElse(null));
    }

    private CompletableFuture<Committed> submit(
            String id, Object command, ExpectedVersion expected, String commandId, Event<?> cause) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(command, "command");
        if (id.isEmpty() || id.length() > 200) {
            throw new IllegalArgumentException("an aggregate id has 1 to 200 characters but was '" + id + "'");
        }
        AggregateType<?, ?, ?> type = typeOf(command);
        if (closed) {
            return CompletableFuture.failedFuture(
                    new EventSourcingException("event sourcing is closed and takes no more commands"));
        }
        CompletableFuture<Committed> done = new CompletableFuture<>();
        queues.submit(type.stream(id), new Job(type, id, command, expected, commandId, cause, done, System.nanoTime()));
        return done;
    }

    private AggregateType<?, ?, ?> typeOf(Object command) {
        for (AggregateType<?, ?, ?> t : types) {
            if (t.takes(command)) {
                return t;
            }
        }
        throw new UnknownStreamTypeException(
                "no aggregate type takes " + command.getClass().getName()
                        + "; register the aggregate type whose commands it is (EventSourcing.builder(...).register(type))");
    }

    private void run(Job job) {
        String outcome = "failed";
        try {
            Committed c = handle(job);
            outcome = c.repeated() ? "repeated" : "applied";
            job.done().complete(c);
        } catch (CommandRejectedException e) {
            outcome = "rejected";
            job.done().completeExceptionally(e);
        } catch (Throwable e) {
            job.done()
                    .completeExceptionally(e instanceof CompletionException && e.getCause() != null ? e.getCause() : e);
            if (e instanceof Error err) {
                throw err;
            }
        } finally {
            meters.command(job.type().name(), outcome, System.nanoTime() - job.startNanos());
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Committed handle(Job job) {
        AggregateType<Object, Object, Object> type = (AggregateType) job.type();
        String stream = type.stream(job.id());
        if (job.commandId() != null) {
            OptionalLong applied = store.commandVersion(job.commandId());
            if (applied.isPresent()) {
                return new Committed(stream, applied.getAsLong(), List.of(), true);
            }
        }
        for (int attempt = 0; ; attempt++) {
            StreamState<Object> current = cache == null ? null : cache.getIfPresent(stream);
            boolean cached = current != null;
            if (current == null) {
                current = fold(type, stream);
            }
            if (job.expected() != null && !job.expected().matches(current.version())) {
                if (cached) {
                    cache.invalidate(stream);
                    attempt--; // the cache may be what is behind: look at the store before answering
                    continue;
                }
                meters.conflicts.increment();
                throw new StreamConflictException(stream, job.expected(), current.version());
            }
            long decideStart = System.nanoTime();
            Decision<Object> decision = type.decider().decide(job.command(), current.state());
            meters.decide.record(System.nanoTime() - decideStart, TimeUnit.NANOSECONDS);
            if (decision instanceof Decision.Rejected<Object> r) {
                throw new CommandRejectedException(stream, job.command(), r.rejection());
            }
            List<Object> events = decision.events();
            if (events.isEmpty()) {
                return new Committed(stream, current.version(), List.of(), false);
            }
            long version;
            long appendStart = System.nanoTime();
            try {
                version = append(type, job, current.version(), events, decision.effects());
            } catch (StreamConflictException e) {
                meters.conflicts.increment();
                invalidate(stream);
                if (job.expected() != null || attempt >= retries) {
                    throw e;
                }
                continue;
            } catch (CommandAlreadyAppliedException e) {
                invalidate(stream);
                return new Committed(stream, e.version(), List.of(), true);
            } catch (RuntimeException e) {
                // The append may or may not have been stored (a lost connection): the store is the truth.
                invalidate(stream);
                throw e;
            } finally {
                meters.append.record(System.nanoTime() - appendStart, TimeUnit.NANOSECONDS);
            }
            Object state = current.state();
            for (Object e : events) {
                state = type.decider().evolve(state, e);
            }
            StreamState<Object> next = new StreamState<>(stream, version, state);
            if (cache != null) {
                cache.put(stream, next);
            }
            maybeSnapshot(type, current.version(), next);
            return new Committed(stream, version, events, false);
        }
    }

    private void invalidate(String stream) {
        if (cache != null) {
            cache.invalidate(stream);
        }
    }

    private long append(
            AggregateType<Object, Object, Object> type,
            Job job,
            long expected,
            List<Object> events,
            List<Effect> effects) {
        Instant now = clock.instant();
        String stream = type.stream(job.id());
        Map<String, String> metadata = new HashMap<>();
        if (job.commandId() != null) {
            metadata.put("command", job.commandId());
        }
        Event<?> cause = job.cause();
        if (cause != null) {
            metadata.put("causation", cause.id());
            metadata.put("correlation", cause.correlationId() != null ? cause.correlationId() : cause.id());
        }
        List<NewEvent> stored = new ArrayList<>(events.size());
        List<Event<?>> published = new ArrayList<>(events.size() + effects.size());
        String source = "/keel/streams/" + type.name();
        for (Object e : events) {
            String name = type.eventName(e);
            String eventId = EventIds.next(now.toEpochMilli());
            byte[] data;
            try {
                data = mapper.writeValueAsBytes(e);
            } catch (IOException ex) {
                throw new EventSourcingException(
                        "event " + e.getClass().getName() + " cannot be written as JSON: " + ex.getMessage(), ex);
            }
            stored.add(new NewEvent(eventId, name, type.revision(name), data, metadata));
            published.add(caused(Event.builder(name, e).id(eventId), cause)
                    .source(source)
                    .subject(job.id())
                    .time(now)
                    .key(stream)
                    .build());
        }
        for (Effect effect : effects) {
            published.add(effectEvent(effect, cause, source, now));
        }
        StreamWrite write =
                new StreamWrite(stream, type.name(), ExpectedVersion.exactly(expected), stored, job.commandId());
        return join(store.append(write, through -> keel.emitThrough(published, through)));
    }

    private Event<?> effectEvent(Effect effect, Event<?> cause, String source, Instant now) {
        return switch (effect) {
            case Effect.Emit emit ->
                caused(Event.builder(emit.type(), emit.data()), cause)
                        .source(source)
                        .time(now)
                        .key(emit.key())
                        .build();
            case Effect.Send send -> commandEvent(send.streamId(), send.command(), cause, source, now, null);
            case Effect.Schedule s -> commandEvent(s.streamId(), s.command(), cause, source, now, now.plus(s.delay()));
        };
    }

    private Event<?> commandEvent(
            String id, Object command, Event<?> cause, String source, Instant now, Instant deliverAt) {
        AggregateType<?, ?, ?> target = typeOf(command);
        CommandMessage message =
                new CommandMessage(target.name(), id, target.commandName(command), mapper.valueToTree(command));
        return caused(Event.builder(COMMAND_TYPE, (Object) message), cause)
                .source(source)
                .time(now)
                .key(target.stream(id))
                .deliverAt(deliverAt)
                .build();
    }

    private static <T> Event.Builder<T> caused(Event.Builder<T> b, Event<?> cause) {
        if (cause == null) {
            return b;
        }
        return b.causationId(cause.id())
                .correlationId(cause.correlationId() != null ? cause.correlationId() : cause.id())
                .tenant(cause.tenant())
                .depth(cause.depth() + 1);
    }

    /** Applies a command carried through the log, once by its event's id. */
    private void carry(Delivery<CommandMessage> delivery) throws Exception {
        CommandMessage m = delivery.data();
        AggregateType<?, ?, ?> type = m == null ? null : byName.get(m.aggregate());
        if (type == null) {
            throw new PermanentFailureException("no aggregate type '" + (m == null ? null : m.aggregate())
                    + "' is registered here; register it, then reprocess this dead letter");
        }
        Class<?> commandClass = type.commandClass(m.command());
        if (commandClass == null) {
            throw new PermanentFailureException(
                    "aggregate '" + m.aggregate() + "' has no command '" + m.command() + "'");
        }
        Object command;
        try {
            command = mapper.treeToValue(m.data(), commandClass);
        } catch (IOException e) {
            throw new PermanentFailureException(
                    "command '" + m.command() + "' cannot be read as " + commandClass.getName() + ": " + e.getMessage(),
                    e);
        }
        try {
            submit(m.id(), command, null, delivery.event().id(), delivery.event())
                    .get(CARRIED_COMMAND_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof CommandRejectedException rejected) {
                // An answer: the sender's saga or timeout learns of it from the stream, not by a retry.
                meters.carriedRejections.increment();
                log.info(
                        "carried command {} to {} was rejected: {}",
                        m.command(),
                        rejected.stream(),
                        rejected.rejection());
                return;
            }
            if (cause instanceof StreamDeletedException) {
                log.warn("carried command {} went to a deleted stream: {}", m.command(), cause.getMessage());
                return;
            }
            if (cause instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (TimeoutException e) {
            throw new EventSourcingException(
                    "carried command " + m.command() + " to " + type.stream(m.id()) + " took longer than "
                            + CARRIED_COMMAND_WAIT_SECONDS + " s; it is tried again (applied once)",
                    e);
        }
    }

    // ---- loading ----

    /**
     * Loads the state of the aggregate with this id, as a command would see it (the cache first).
     *
     * @throws EventDecodingException when an event cannot be read back
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public <S> StreamState<S> load(AggregateType<?, S, ?> type, String id) {
        Objects.requireNonNull(type, "type");
        AggregateType<Object, Object, Object> t = (AggregateType) byName.get(type.name());
        if (t == null) {
            throw new UnknownStreamTypeException("aggregate type '" + type.name() + "' is not registered here");
        }
        String stream = t.stream(id);
        StreamState<Object> s = cache == null ? null : cache.getIfPresent(stream);
        return (StreamState<S>) (s != null ? s : fold(t, stream));
    }

    private StreamState<Object> fold(AggregateType<Object, Object, Object> type, String stream) {
        Object state = type.decider().initialState();
        long version = 0;
        if (type.snapshotEvery() > 0) {
            Optional<Snapshot> snapshot = store.snapshot(stream);
            if (snapshot.isPresent()) {
                Object restored = restore(type, snapshot.get());
                if (restored != null) {
                    state = restored;
                    version = snapshot.get().version();
                    meters.snapshotLoads.increment();
                }
            }
        }
        while (true) {
            List<RecordedEvent> page = store.load(stream, version, LOAD_PAGE);
            for (RecordedEvent re : page) {
                state = type.decider().evolve(state, decode(type, re));
                version = re.version();
            }
            if (page.size() < LOAD_PAGE) {
                return new StreamState<>(stream, version, state);
            }
        }
    }

    private Object decode(AggregateType<Object, Object, Object> type, RecordedEvent re) {
        Class<?> cls = type.eventClass(re.type());
        if (cls == null) {
            throw new EventDecodingException(
                    re.stream(),
                    re.version(),
                    "'" + re.type() + "' is not an event type of aggregate '" + type.name() + "'",
                    null);
        }
        int current = type.revision(re.type());
        if (re.revision() > current) {
            throw new EventDecodingException(
                    re.stream(),
                    re.version(),
                    "it was written at revision " + re.revision() + " of " + re.type() + ", newer than this code's "
                            + current,
                    null);
        }
        try {
            if (re.revision() == current) {
                return reader(cls).readValue(re.data());
            }
            JsonNode old = mapper.readTree(re.data());
            JsonNode now;
            try {
                now = type.upcast(re.type(), re.revision(), old);
            } catch (RuntimeException e) {
                throw new EventDecodingException(
                        re.stream(),
                        re.version(),
                        "the upcaster of " + re.type() + " from revision " + re.revision() + " threw " + e,
                        e);
            }
            return reader(cls).readValue(now);
        } catch (IOException e) {
            throw new EventDecodingException(
                    re.stream(), re.version(), "its data does not read as " + cls.getName() + ": " + e.getMessage(), e);
        }
    }

    /** A reader per event class: made once, it reads faster than the mapper looking the class up each time. */
    private ObjectReader reader(Class<?> cls) {
        return readers.computeIfAbsent(cls, mapper::readerFor);
    }

    private Object restore(AggregateType<Object, Object, Object> type, Snapshot s) {
        if (s.revision() != type.snapshotRevision()) {
            return null; // taken at another revision of the state: folding the events is the way
        }
        try {
            Class<?> cls = Class.forName(s.stateType(), false, type.stateClass().getClassLoader());
            if (!type.stateClass().isAssignableFrom(cls)) {
                throw new IOException(
                        cls.getName() + " is not a " + type.stateClass().getName());
            }
            return mapper.readValue(s.state(), cls);
        } catch (IOException | ClassNotFoundException | LinkageError e) {
            meters.snapshotFailures.increment();
            log.warn(
                    "the snapshot of {} at version {} does not read ({}); it is ignored and the state is built from"
                            + " its events (it is replaced at the next snapshot)",
                    s.stream(),
                    s.version(),
                    e.toString());
            return null;
        }
    }

    private void maybeSnapshot(AggregateType<Object, Object, Object> type, long before, StreamState<Object> now) {
        int every = type.snapshotEvery();
        if (every == 0 || now.version() / every == before / every) {
            return;
        }
        try {
            store.saveSnapshot(new Snapshot(
                    now.stream(),
                    now.version(),
                    now.state().getClass().getName(),
                    type.snapshotRevision(),
                    mapper.writeValueAsBytes(now.state()),
                    clock.instant()));
        } catch (IOException | RuntimeException e) {
            // A snapshot is a cache: without it loads fold more events, nothing else.
            log.warn("could not save the snapshot of {} at version {}: {}", now.stream(), now.version(), e.toString());
        }
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }

    // ---- lifecycle ----

    /** Streams with commands queued or running. */
    public int busyStreams() {
        return queues.busy();
    }

    /**
     * Takes no more commands, and waits up to 10 s for those queued to finish. Close this before the Keel
     * runtime.
     */
    @Override
    public void close() {
        closed = true;
        runners.shutdown();
        try {
            if (!runners.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("{} streams still had commands running after 10 s", queues.busy());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The meters of command handling. */
    private static final class Meters {
        private final MeterRegistry registry;
        private final Map<String, Timer> commands = new ConcurrentHashMap<>();
        final Timer decide;
        final Timer append;
        final Counter conflicts;
        final Counter snapshotLoads;
        final Counter snapshotFailures;
        final Counter carriedRejections;

        Meters(MeterRegistry registry) {
            this.registry = registry;
            this.decide = Timer.builder("keel.es.decide")
                    .description("time to decide a command")
                    .register(registry);
            this.append = Timer.builder("keel.es.append")
                    .description("time to append a decision's events, until durable")
                    .publishPercentiles(0.5, 0.95, 0.99)
                    .register(registry);
            this.conflicts = Counter.builder("keel.es.conflicts")
                    .description("appends that found their stream at another version")
                    .register(registry);
            this.snapshotLoads = Counter.builder("keel.es.snapshot.loads")
                    .description("loads that started from a snapshot")
                    .register(registry);
            this.snapshotFailures = Counter.builder("keel.es.snapshot.unreadable")
                    .description("snapshots ignored because they no longer read")
                    .register(registry);
            this.carriedRejections = Counter.builder("keel.es.carried.rejections")
                    .description("commands carried by effects that their decider rejected")
                    .register(registry);
        }

        void command(String type, String outcome, long nanos) {
            commands.computeIfAbsent(type + "/" + outcome, k -> Timer.builder("keel.es.commands")
                            .description("commands handled, by aggregate type and outcome")
                            .tag("aggregate", type)
                            .tag("outcome", outcome)
                            .publishPercentiles(0.5, 0.95, 0.99)
                            .register(registry))
                    .record(nanos, TimeUnit.NANOSECONDS);
        }
    }

    /** Configures {@link EventSourcing}. */
    public static final class Builder {
        private final Keel keel;
        private final EventStore store;
        private final Map<String, AggregateType<?, ?, ?>> types = new LinkedHashMap<>();
        private ObjectMapper mapper;
        private int retries = 3;
        private long cacheSize = 10_000;
        private boolean carryCommands = true;
        private Clock clock = Clock.systemUTC();
        private MeterRegistry registry = new CompositeMeterRegistry();

        private Builder(Keel keel, EventStore store) {
            this.keel = Objects.requireNonNull(keel, "keel");
            this.store = Objects.requireNonNull(store, "store");
        }

        /** Registers an aggregate type; its name and its command classes must be its own. */
        public Builder register(AggregateType<?, ?, ?> type) {
            Objects.requireNonNull(type, "type");
            if (types.containsKey(type.name())) {
                throw new IllegalArgumentException("an aggregate type named '" + type.name() + "' is registered");
            }
            for (AggregateType<?, ?, ?> t : types.values()) {
                if (t.commandClass().isAssignableFrom(type.commandClass())
                        || type.commandClass().isAssignableFrom(t.commandClass())) {
                    throw new IllegalArgumentException("aggregate types '" + t.name() + "' and '" + type.name()
                            + "' take the same commands (" + type.commandClass().getName()
                            + "); each command class must route to one type");
                }
            }
            types.put(type.name(), type);
            return this;
        }

        /** How many times a command is decided again after a version conflict; 3 by default, 0 for never. */
        public Builder retriesOnConflict(int value) {
            if (value < 0 || value > 100) {
                throw new IllegalArgumentException("retriesOnConflict must be between 0 and 100 but was " + value);
            }
            this.retries = value;
            return this;
        }

        /** How many streams' states are kept in memory; 10,000 by default, 0 for none. */
        public Builder cacheSize(long value) {
            if (value < 0) {
                throw new IllegalArgumentException("cacheSize must be 0 or more but was " + value);
            }
            this.cacheSize = value;
            return this;
        }

        /**
         * Whether this runtime applies commands carried by effects (the subscription {@value
         * #COMMAND_SUBSCRIPTION}); true by default. Turn it off where another instance does.
         */
        public Builder carryCommands(boolean value) {
            this.carryCommands = value;
            return this;
        }

        /** The mapper for events, commands and snapshots. */
        public Builder objectMapper(ObjectMapper value) {
            this.mapper = Objects.requireNonNull(value, "objectMapper");
            return this;
        }

        /** The clock of event times, schedules and snapshots (give the runtime's). */
        public Builder clock(Clock value) {
            this.clock = Objects.requireNonNull(value, "clock");
            return this;
        }

        /** Where the meters go. */
        public Builder meterRegistry(MeterRegistry value) {
            this.registry = Objects.requireNonNull(value, "meterRegistry");
            return this;
        }

        public EventSourcing build() {
            if (types.isEmpty()) {
                throw new IllegalArgumentException("register at least one aggregate type");
            }
            return new EventSourcing(this);
        }
    }
}
