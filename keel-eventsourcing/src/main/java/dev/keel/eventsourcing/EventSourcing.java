package dev.keel.eventsourcing;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.EventIds;
import dev.keel.Handler;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.Subscription;
import dev.keel.eventsourcing.internal.CommandMeters;
import dev.keel.eventsourcing.internal.StreamCodec;
import dev.keel.eventsourcing.internal.StreamQueues;
import dev.keel.eventsourcing.spi.AppliedCommand;
import dev.keel.eventsourcing.spi.CommandAlreadyAppliedException;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.NewEvent;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.eventsourcing.spi.Snapshot;
import dev.keel.eventsourcing.spi.StreamWrite;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
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
 *
 * <p>This class is longer than most: a command's path (queue, cache, decision, append, effects) and the two
 * subscriptions that feed it commands (carried commands, saga observations) share the stream queues, the
 * cache and the causation chain, and read best together. Its codec, meters and queues are in
 * {@code dev.keel.eventsourcing.internal}.
 */
public final class EventSourcing implements AutoCloseable {
    /** The type of the log events that carry commands of {@link Effect.Send} and {@link Effect.Schedule}. */
    public static final String COMMAND_TYPE = "keel.es.command";
    /**
     * The start of the CloudEvents {@code source} of the events a stream publishes: {@code /keel/streams/<type>/<id>};
     * their {@code subject} is the event's version in the stream, and their ordering key the stream.
     */
    public static final String STREAMS_SOURCE = "/keel/streams/";

    /**
     * The type of the event published when a carried command ({@link Effect.Send}, {@link Effect.Schedule}) is
     * rejected, with a {@link CommandRejected} as data, ordered by the command's target stream: how a saga
     * learns that a step it asked for was refused.
     */
    public static final String REJECTED_TYPE = "keel.es.command-rejected";

    /** How long the ids of applied commands are kept by default. */
    public static final java.time.Duration DEFAULT_COMMAND_RETENTION = java.time.Duration.ofDays(30);

    /** The subscription that applies carried commands. */
    public static final String COMMAND_SUBSCRIPTION = "keel-es-commands";
    /** How long the command and saga subscriptions wait for a command before failing the attempt. */
    static final long CARRIED_COMMAND_WAIT_SECONDS = 30;
    /** The delivery timeout of those subscriptions: above the wait, so the wait ends first. */
    private static final java.time.Duration HANDLER_TIMEOUT = java.time.Duration.ofSeconds(45);

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
    private final StreamQueues<Job> queues = new StreamQueues<>(runners, this::run, this::refuse);
    private final List<Saga<?, ?>> sagas;
    private final List<String> subscribed = new ArrayList<>();
    private final MultiGauge sagaInstances;
    private final AtomicLong sagaCountedAt = new AtomicLong(Long.MIN_VALUE);
    private final CommandMeters meters;
    private final StreamCodec codec;
    private final Tracer tracer;
    private final java.time.Duration commandRetention;
    private final Thread pruner;
    private volatile boolean closed;

    private record Job(
            AggregateType<?, ?, ?> type,
            String id,
            Object command,
            ExpectedVersion expected,
            String commandId,
            Event<?> cause,
            Context trace,
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
        this.meters = new CommandMeters(b.registry);
        this.codec = new StreamCodec(mapper);
        this.tracer = b.openTelemetry.getTracer("dev.keel.eventsourcing");
        this.sagas = List.copyOf(b.sagas);
        this.sagaInstances = MultiGauge.builder("keel.es.saga.instances")
                .description("saga instances by saga and the label of their state")
                .register(b.registry);
        if (b.carryCommands) {
            keel.subscribe(Subscription.builder(COMMAND_SUBSCRIPTION)
                    .types(COMMAND_TYPE)
                    .timeout(HANDLER_TIMEOUT)
                    .handler(CommandMessage.class, this::carry)
                    .build());
            subscribed.add(COMMAND_SUBSCRIPTION);
        }
        for (Saga<?, ?> saga : sagas) {
            keel.subscribe(Subscription.builder(saga.subscription())
                    .types(saga.observes().toArray(String[]::new))
                    .timeout(HANDLER_TIMEOUT)
                    .handler(Object.class, d -> observe(saga, d))
                    .build());
            subscribed.add(saga.subscription());
        }
        if (!sagas.isEmpty()) {
            countSagas(true);
        }
        this.commandRetention = b.commandRetention;
        this.pruner = Thread.ofPlatform().daemon().name("keel-es-prune").start(this::pruneCommands);
    }

    /** Forgets applied commands older than the retention, every hour (first a minute after the start). */
    private void pruneCommands() {
        long wait = TimeUnit.MINUTES.toMillis(1);
        while (!closed) {
            try {
                Thread.sleep(wait);
                wait = TimeUnit.HOURS.toMillis(1);
                int pruned = store.pruneCommands(clock.instant().minus(commandRetention));
                if (pruned > 0) {
                    log.debug("forgot {} commands applied more than {} ago", pruned, commandRetention);
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                log.warn("could not prune the applied commands (tried again in an hour): {}", e.toString());
            }
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
        return fromCaller(id, command, null, null);
    }

    /**
     * Sends a command decided on a known version: fails with {@link StreamConflictException} (and is not
     * retried) when the stream is at another.
     */
    public CompletableFuture<Committed> send(String id, Object command, ExpectedVersion expected) {
        Objects.requireNonNull(expected, "expected");
        return fromCaller(id, command, expected, null);
    }

    /**
     * Sends a command at most once by its id: a command with an id applied before is not decided again, and gets
     * the first one's answer (it completes with {@link Committed#repeated()}, or fails with the same rejection).
     * For clients that may send a command twice (a retried HTTP request); ids are kept by the store for
     * {@link Builder#commandRetention}.
     */
    public CompletableFuture<Committed> sendOnce(String commandId, String id, Object command) {
        Objects.requireNonNull(commandId, "commandId");
        return fromCaller(id, command, null, commandId);
    }

    /** A command from the caller's thread, caused by the delivery it is handling, if any. */
    private CompletableFuture<Committed> fromCaller(
            String id, Object command, ExpectedVersion expected, String commandId) {
        return submit(
                typeOf(command),
                id,
                command,
                expected,
                commandId,
                keel.eventBeingHandled().orElse(null));
    }

    private CompletableFuture<Committed> submit(
            AggregateType<?, ?, ?> type,
            String id,
            Object command,
            ExpectedVersion expected,
            String commandId,
            Event<?> cause) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(command, "command");
        if (id.isEmpty() || id.length() > 200) {
            throw new IllegalArgumentException("an aggregate id has 1 to 200 characters but was '" + id + "'");
        }
        if (closed) {
            return CompletableFuture.failedFuture(
                    new EventSourcingException("event sourcing is closed and takes no more commands"));
        }
        CompletableFuture<Committed> done = new CompletableFuture<>();
        queues.submit(
                type.stream(id),
                new Job(type, id, command, expected, commandId, cause, Context.current(), done, System.nanoTime()));
        return done;
    }

    private AggregateType<?, ?, ?> typeOf(Object command) {
        Objects.requireNonNull(command, "command");
        for (AggregateType<?, ?, ?> t : types) {
            if (t.takes(command)) {
                return t;
            }
        }
        throw new UnknownStreamTypeException(
                "no aggregate type takes " + command.getClass().getName()
                        + "; register the aggregate type whose commands it is (EventSourcing.builder(...).register(type))");
    }

    private void refuse(Job job) {
        job.done()
                .completeExceptionally(
                        new EventSourcingException("event sourcing is closed and takes no more commands"));
    }

    private void run(Job job) {
        if (closed) {
            refuse(job); // queued behind a command that was running when close() was called
            return;
        }
        String outcome = "failed";
        // The command's span, child of the sender's context (a handler's delivery): the events it appends are
        // emitted under it, so a trace runs on from command to decision, append, subscribers and saga steps.
        Span span = tracer.spanBuilder("command " + job.type().name() + " "
                        + job.command().getClass().getSimpleName())
                .setParent(job.trace())
                .setSpanKind(SpanKind.INTERNAL)
                .setAttribute("keel.es.aggregate", job.type().name())
                .setAttribute("keel.es.stream", job.type().stream(job.id()))
                .startSpan();
        try (Scope scope = span.makeCurrent()) {
            Committed c = handle(job);
            span.setAttribute("keel.es.version", c.version());
            outcome = c.repeated() ? "repeated" : "applied";
            job.done().complete(c);
        } catch (CommandRejectedException e) {
            outcome = "rejected";
            span.setAttribute("keel.es.rejection", e.rejection().code());
            job.done().completeExceptionally(e);
        } catch (Throwable e) {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            span.setStatus(StatusCode.ERROR, String.valueOf(cause.getMessage()));
            span.recordException(cause);
            job.done().completeExceptionally(cause);
            if (e instanceof Error err) {
                throw err;
            }
        } finally {
            span.end();
            meters.command(job.type().name(), outcome, System.nanoTime() - job.startNanos());
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private Committed handle(Job job) {
        AggregateType<Object, Object, Object> type = (AggregateType) job.type();
        String stream = type.stream(job.id());
        if (job.commandId() != null) {
            Optional<AppliedCommand> applied = store.appliedCommand(job.commandId());
            if (applied.isPresent()) {
                return repeated(
                        stream, job, applied.get().version(), applied.get().rejection());
            }
        }
        for (int attempt = 0; ; attempt++) {
            StreamState<Object> current = cache == null ? null : cache.getIfPresent(stream);
            boolean cached = current != null;
            if (current != null && job.expected() != null && !job.expected().matches(current.version())) {
                // The cache may be what is behind: the store answers.
                invalidate(stream);
                current = null;
            }
            if (current == null) {
                current = fold(type, stream);
            }
            if (job.expected() != null && !job.expected().matches(current.version())) {
                meters.conflicts.increment();
                throw new StreamConflictException(stream, job.expected(), current.version());
            }
            long decideStart = System.nanoTime();
            Span deciding = tracer.spanBuilder("decide").startSpan();
            Decision<Object> decision;
            try {
                decision = type.decider().decide(job.command(), current.state());
            } finally {
                deciding.end();
                meters.decide.record(System.nanoTime() - decideStart, TimeUnit.NANOSECONDS);
            }
            Rejection rejection = decision instanceof Decision.Rejected<Object> r ? r.rejection() : null;
            List<Object> events = decision.events();
            if (events.isEmpty() && job.commandId() == null) {
                if (cached && attempt <= retries && !atVersion(stream, current.version())) {
                    // An answer that writes nothing is checked by no append: when it was decided on the cache,
                    // make sure the cache is not behind the store (another instance appended) before giving it.
                    invalidate(stream);
                    continue;
                }
                if (rejection != null) {
                    throw new CommandRejectedException(stream, job.command(), rejection);
                }
                return new Committed(stream, current.version(), List.of(), false);
            }
            // From here on something is written: the events, or (for a command with an id that changed nothing
            // or was rejected) the record that it was applied, so a redelivery is not decided again.
            Object state = current.state();
            for (Object e : events) {
                state = type.decider().evolve(state, e);
            }
            long version;
            long appendStart = System.nanoTime();
            Span appending = tracer.spanBuilder("append")
                    .setAttribute("keel.es.events", events.size())
                    .startSpan();
            try (Scope scope = appending.makeCurrent()) {
                version =
                        append(type, job, current.version(), events, decision.effects(), type.label(state), rejection);
            } catch (StreamConflictException e) {
                meters.conflicts.increment();
                invalidate(stream);
                if (job.expected() != null || attempt >= retries) {
                    throw e;
                }
                continue;
            } catch (CommandAlreadyAppliedException e) {
                invalidate(stream);
                return repeated(stream, job, e.version(), e.rejection());
            } catch (RuntimeException e) {
                // The append may or may not have been stored (a lost connection): the store is the truth.
                invalidate(stream);
                throw e;
            } finally {
                appending.end();
                meters.append.record(System.nanoTime() - appendStart, TimeUnit.NANOSECONDS);
            }
            if (rejection != null) {
                throw new CommandRejectedException(stream, job.command(), rejection);
            }
            if (!events.isEmpty()) {
                StreamState<Object> next = new StreamState<>(stream, version, state);
                if (cache != null) {
                    cache.put(stream, next);
                }
                maybeSnapshot(type, current.version(), next);
            }
            return new Committed(stream, version, events, false);
        }
    }

    /** The answer to a command applied before: the same rejection again, or what it came to. */
    private static Committed repeated(String stream, Job job, long version, Rejection rejection) {
        if (rejection != null) {
            throw new CommandRejectedException(stream, job.command(), rejection);
        }
        return new Committed(stream, version, List.of(), true);
    }

    /** Whether the store's stream is at the version (a stream never appended to is at 0). */
    private boolean atVersion(String stream, long version) {
        return store.info(stream).map(i -> i.version()).orElse(0L) == version;
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
            List<Effect> effects,
            String label,
            Rejection rejection) {
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
        // Published as CloudEvents whose source is the stream and whose subject is the event's version in it.
        String source = STREAMS_SOURCE + type.name() + "/" + job.id();
        long version = expected;
        for (Object e : events) {
            String name = type.eventName(e);
            String eventId = EventIds.next(now.toEpochMilli());
            byte[] data;
            try {
                data = codec.write(e);
            } catch (IOException ex) {
                throw new EventSourcingException(
                        "event " + e.getClass().getName() + " cannot be written as JSON: " + ex.getMessage(), ex);
            }
            stored.add(new NewEvent(eventId, name, type.revision(name), data, metadata));
            published.add(caused(Event.builder(name, e).id(eventId), cause)
                    .source(source)
                    .subject(Long.toString(++version))
                    .time(now)
                    .key(stream)
                    .build());
        }
        if (!effects.isEmpty()) {
            // Effects are caused by the events that record why they are wanted: the decision's last.
            Event<?> why = published.getLast();
            for (Effect effect : effects) {
                published.add(effectEvent(effect, why, source, now));
            }
        }
        StreamWrite write = new StreamWrite(
                stream, type.name(), ExpectedVersion.exactly(expected), stored, job.commandId(), label, rejection);
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
                new CommandMessage(target.name(), id, target.commandName(command), codec.tree(command));
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
        return b.causedBy(cause).deadline(cause.deadline()); // within its cause's chain budget, if there is one
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
            command = codec.read(m.data(), commandClass);
        } catch (IOException e) {
            throw new PermanentFailureException(
                    "command '" + m.command() + "' cannot be read as " + commandClass.getName() + ": " + e.getMessage(),
                    e);
        }
        try {
            awaitCarried(
                    submit(type, m.id(), command, null, delivery.event().id(), delivery.event()),
                    "carried command " + m.command() + " to " + type.stream(m.id()),
                    true);
        } catch (CommandRejectedException rejected) {
            // An answer, published for whoever sent the command (a saga observes REJECTED_TYPE): once per
            // command, by its idempotency key, however often this delivery is repeated.
            keel.emit(Event.builder(REJECTED_TYPE, (Object) new CommandRejected(
                                    m.aggregate(),
                                    m.id(),
                                    m.command(),
                                    rejected.rejection().code(),
                                    rejected.rejection().message()))
                            .key(type.stream(m.id()))
                            .idempotencyKey("rejected:" + delivery.event().id())
                            .build())
                    .get(CARRIED_COMMAND_WAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    /**
     * Waits for a command a subscription applies: a rejection or a deleted stream is an answer (acknowledged);
     * anything else fails the attempt, to be retried (applied once, by the command's id) or dead-lettered.
     */
    private void awaitCarried(CompletableFuture<Committed> applied, String what, boolean carried) throws Exception {
        try {
            applied.get(CARRIED_COMMAND_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof CommandRejectedException rejected) {
                // An answer, not a fault: acknowledged, never retried.
                meters.carriedRejections.increment();
                log.info("{} was rejected: {}", what, rejected.rejection());
                if (carried) {
                    throw rejected;
                }
                return;
            }
            if (cause instanceof StreamDeletedException) {
                log.warn("{} went to a deleted stream: {}", what, cause.getMessage());
                return;
            }
            if (cause instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (TimeoutException e) {
            throw new EventSourcingException(
                    what + " took longer than " + CARRIED_COMMAND_WAIT_SECONDS + " s; it is tried again (applied once)",
                    e);
        }
    }

    /** Feeds an observed event to the saga instance it correlates to, once by the event's id. */
    private void observe(Saga<?, ?> saga, Delivery<Object> delivery) throws Exception {
        Saga.Trigger<?> trigger = saga.trigger(delivery.event().type());
        if (trigger == null) {
            return;
        }
        Object event;
        try {
            event = codec.convert(delivery.data(), trigger.eventClass());
        } catch (IllegalArgumentException e) {
            throw new PermanentFailureException(
                    "saga '" + saga.name() + "' cannot read " + delivery.event().type() + " as "
                            + trigger.eventClass().getName() + ": " + e.getMessage(),
                    e);
        }
        String id = correlate(trigger, event);
        if (id == null) {
            return; // not for this saga
        }
        awaitCarried(
                submit(
                        saga.type(),
                        id,
                        event,
                        null,
                        saga.name() + ":" + delivery.event().id(),
                        delivery.event()),
                delivery.event().type() + " observed by " + saga.type().stream(id),
                false);
        countSagas(false);
    }

    @SuppressWarnings("unchecked")
    private static <T> String correlate(Saga.Trigger<T> trigger, Object event) {
        return trigger.correlation().apply((T) event);
    }

    /** Refreshes the saga meter, at most every 5 s (it counts in the store). */
    private void countSagas(boolean now) {
        long at = System.nanoTime();
        long last = sagaCountedAt.get();
        if (!now && at - last < TimeUnit.SECONDS.toNanos(5) || !sagaCountedAt.compareAndSet(last, at)) {
            return;
        }
        try {
            List<MultiGauge.Row<?>> rows = new ArrayList<>();
            for (Saga<?, ?> saga : sagas) {
                store.labels(saga.name())
                        .forEach((label, count) -> rows.add(MultiGauge.Row.of(
                                Tags.of("saga", saga.name(), "state", label.isEmpty() ? "none" : label), count)));
            }
            sagaInstances.register(rows, true);
        } catch (RuntimeException e) {
            log.debug("could not count saga instances: {}", e.toString());
        }
    }

    /** How many live instances of a type are in each labelled state (a saga's steps). */
    public Map<String, Long> labels(AggregateType<?, ?, ?> type) {
        return store.labels(Objects.requireNonNull(type, "type").name());
    }

    /**
     * Deletes the aggregate's stream if it is at the expected version (see {@link EventStore#delete}), and
     * forgets its cached state.
     */
    public void delete(AggregateType<?, ?, ?> type, String id, ExpectedVersion expected) {
        String stream = Objects.requireNonNull(type, "type").stream(id);
        try {
            store.delete(stream, expected);
        } finally {
            invalidate(stream);
        }
    }

    /**
     * The version of a log event that a stream published (its {@code subject}), or empty for any other event.
     * Its stream is its ordering key.
     */
    public static OptionalLong versionOf(Event<?> event) {
        if (event.source() == null || !event.source().startsWith(STREAMS_SOURCE) || event.subject() == null) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(event.subject()));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /**
     * A handler of the events streams publish, each given as its class as this code reads it: read back from the
     * event store through its type's upcasters, not from the log's copy. A subscription that uses it reads an
     * old event (a dead letter reprocessed after the event's shape changed, a replay) as the current classes.
     * An event no stream published is converted from its data (JSON values) with this runtime's mapper. Each
     * stream event costs one read of the store; an event of a deleted stream is dead-lettered at once.
     *
     * @throws dev.keel.PermanentFailureException (in the delivery) when the event is no longer in the store (its
     *     stream was deleted), its aggregate type is not registered here, or it is not an {@code eventClass}
     */
    public <T> Handler<Object> handler(Class<T> eventClass, Handler<T> handler) {
        Objects.requireNonNull(eventClass, "eventClass");
        Objects.requireNonNull(handler, "handler");
        return delivery -> {
            Event<Object> e = delivery.event();
            OptionalLong version = versionOf(e);
            String stream = e.partitionKey();
            Object value;
            if (version.isPresent() && stream != null && stream.indexOf(':') > 0) {
                String streamType = stream.substring(0, stream.indexOf(':'));
                if (!byName.containsKey(streamType)) {
                    throw new PermanentFailureException(
                            "aggregate type '" + streamType + "' is not registered here; register it, then reprocess");
                }
                List<RecordedEvent> stored = store.load(stream, version.getAsLong() - 1, 1);
                if (stored.isEmpty() || stored.getFirst().version() != version.getAsLong()) {
                    throw new PermanentFailureException("event " + version.getAsLong() + " of stream '" + stream
                            + "' is no longer in the store (the stream was deleted)");
                }
                value = decode(streamType, stored.getFirst());
            } else {
                try {
                    value = e.data() == null ? null : codec.convert(e.data(), eventClass);
                } catch (IllegalArgumentException ex) {
                    throw new PermanentFailureException(
                            e.type() + " cannot be read as " + eventClass.getName() + ": " + ex.getMessage(), ex);
                }
            }
            if (value != null && !eventClass.isInstance(value)) {
                throw new PermanentFailureException(
                        e.type() + " reads as " + value.getClass().getName() + ", not " + eventClass.getName());
            }
            handler.handle(new Delivery<>(
                    delivery.subscription(),
                    e.withData(eventClass.cast(value)),
                    delivery.attempt(),
                    delivery.errors(),
                    delivery.lane(),
                    delivery.sequence(),
                    delivery.replayCount()));
        };
    }

    /**
     * Reads a stored event as its class, through its type's upcasters.
     *
     * @throws EventDecodingException when it cannot be read
     * @throws UnknownStreamTypeException when its stream's type is not registered here
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public Object decode(String streamType, RecordedEvent event) {
        AggregateType<Object, Object, Object> type = (AggregateType) byName.get(streamType);
        if (type == null) {
            throw new UnknownStreamTypeException("aggregate type '" + streamType + "' is not registered here");
        }
        return codec.decode(type, event);
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
        if (type.takesSnapshots()) {
            Optional<Snapshot> snapshot = store.snapshot(stream);
            if (snapshot.isPresent()) {
                Object restored = codec.restore(type, snapshot.get(), meters.snapshotFailures::increment);
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
                state = type.decider().evolve(state, codec.decode(type, re));
                version = re.version();
            }
            if (page.size() < LOAD_PAGE) {
                return new StreamState<>(stream, version, state);
            }
        }
    }

    private void maybeSnapshot(AggregateType<Object, Object, Object> type, long before, StreamState<Object> now) {
        try {
            // The events are stored by now: nothing here, a policy that throws included, may fail the command.
            if (!type.snapshotDue(before, now.version(), now.state())) {
                return;
            }
            store.saveSnapshot(new Snapshot(
                    now.stream(),
                    now.version(),
                    now.state().getClass().getName(),
                    type.snapshotRevision(),
                    codec.write(now.state()),
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
        // First the subscriptions that send commands here, so that none fails against a closed runtime.
        for (String name : subscribed) {
            try {
                keel.unsubscribe(name);
            } catch (RuntimeException e) {
                log.debug("could not remove subscription {}: {}", name, e.toString());
            }
        }
        pruner.interrupt();
        try {
            pruner.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        runners.shutdown();
        try {
            if (!runners.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("{} streams still had commands running after 10 s", queues.busy());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Configures {@link EventSourcing}. */
    public static final class Builder {
        private final Keel keel;
        private final EventStore store;
        private final Map<String, AggregateType<?, ?, ?>> types = new LinkedHashMap<>();
        private final List<Saga<?, ?>> sagas = new ArrayList<>();
        private ObjectMapper mapper;
        private int retries = 3;
        private long cacheSize = 10_000;
        private boolean carryCommands = true;
        private Clock clock = Clock.systemUTC();
        private MeterRegistry registry = new CompositeMeterRegistry();
        private OpenTelemetry openTelemetry = OpenTelemetry.noop();
        private java.time.Duration commandRetention = DEFAULT_COMMAND_RETENTION;

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

        /**
         * Registers a saga: its type, and a subscription ({@code saga:<name>}) to the events it observes, each
         * fed to its instance once.
         */
        public Builder saga(Saga<?, ?> saga) {
            register(Objects.requireNonNull(saga, "saga").type());
            sagas.add(saga);
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

        /**
         * How long the ids of applied commands are kept: a command with such an id (sent with {@code sendOnce},
         * carried by an effect, observed by a saga) arriving again within it gets the first answer; after it, it
         * would be decided again. 30 days by default; keep it longer than dead letters wait to be reprocessed.
         */
        public Builder commandRetention(java.time.Duration value) {
            if (value == null || value.compareTo(java.time.Duration.ofHours(1)) < 0) {
                throw new IllegalArgumentException("commandRetention must be an hour or more but was " + value);
            }
            this.commandRetention = value;
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

        /**
         * Where spans go (give the runtime's): a span per command, with the decision and the append under it,
         * child of the sender's trace context.
         */
        public Builder openTelemetry(OpenTelemetry value) {
            this.openTelemetry = Objects.requireNonNull(value, "openTelemetry");
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
