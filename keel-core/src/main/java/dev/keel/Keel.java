package dev.keel;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.internal.health.RuntimeHealth;
import dev.keel.internal.intake.Intake;
import dev.keel.internal.lanes.DeliveryScope;
import dev.keel.internal.lanes.LaneContext;
import dev.keel.internal.lanes.LaneWorker;
import dev.keel.internal.lanes.SubscriptionRuntime;
import dev.keel.internal.lanes.SubscriptionTable;
import dev.keel.internal.lanes.Watchdog;
import dev.keel.internal.leases.LeaseKeeper;
import dev.keel.internal.maintenance.Maintenance;
import dev.keel.internal.maintenance.PauseBoard;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.storage.TieredJournal;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.memory.MemoryJournal;
import dev.keel.middleware.CircuitBreakerMiddleware;
import dev.keel.spi.Append;
import dev.keel.spi.DeadLetterStore;
import dev.keel.spi.EventLog;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.Journal;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Tally;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntConsumer;
import java.util.function.IntToLongFunction;
import java.util.random.RandomGenerator;
import org.reactivestreams.Publisher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.FluxSink;
import reactor.core.publisher.Mono;

/**
 * The Keel runtime: emit events, and every matching {@link Subscription} receives each one — in order per
 * key, retried with backoff, dead-lettered when it keeps failing.
 *
 * <pre>{@code
 * try (Keel keel = Keel.builder().build()) {
 *     keel.on("shipping", "order.*", Order.class, d -> ship(d.data()));
 *     keel.start();
 *     keel.emit("order.created", order.id(), order).join();
 * }
 * }</pre>
 *
 * <p>Build one with {@link #builder()}; the instance is yours (there is no global runtime). Without
 * {@link #start()} nothing is delivered until you call {@link #process()}, which is handy in tests.
 * {@link #close()} stops intake and drains in-flight work up to a deadline.
 *
 * <p>This class is the facade: it wires the parts in {@code dev.keel.internal} (intake, lane workers,
 * leases, maintenance) and keeps the lifecycle. It is long because its {@link Builder} documents every
 * setting; the behaviour lives in those parts (see docs/architecture.md).
 */
public final class Keel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Keel.class);

    private enum State {
        OPEN,
        CLOSING,
        CLOSED
    }

    private final Journal journal;
    /** The journal when at-most-once types have an in-memory tier beside the durable one; null otherwise. */
    private final TieredJournal tiers;

    private final int lanes;
    private final int laneSpace;
    private final Clock clock;
    private final Telemetry telemetry;
    private final String source;
    private final Intake intake;
    private final DeliveryScope scope = new DeliveryScope();
    private final SubscriptionTable subscriptions;
    private final PauseBoard pauses;
    private final Maintenance maintenance;
    private final LeaseKeeper leases;
    private final Watchdog watchdog;
    private final DeadLetters deadLetters;
    private final RuntimeHealth health;
    private final Context runtime;
    private final String instanceId = "keel-" + EventIds.next();
    private final List<IntConsumer> appendWatches = new CopyOnWriteArrayList<>();
    /** Tells other instances of this one's appends, and this one of theirs; null when none is set. */
    private final AppendNotices notices;
    /** The watches on other instances' appends, opened by start and closed by close (under the lifecycle lock). */
    private final List<AutoCloseable> appendsElsewhere = new CopyOnWriteArrayList<>();

    private final LongAdder emitted = new LongAdder();
    private final LongAdder duplicates = new LongAdder();
    private final AtomicInteger appendsInFlight = new AtomicInteger();

    private final Object lifecycle = new Object();
    private volatile State state = State.OPEN;
    private volatile boolean started;
    private volatile boolean running;
    private ShutdownReport closeReport;

    private Keel(Builder b) {
        Journal base = b.journal != null ? b.journal : new MemoryJournal(b.clock);
        boolean tiered = !b.atMostOnce.isEmpty() && base.durable();
        this.tiers = tiered ? new TieredJournal(base, new MemoryJournal(b.clock), b.atMostOnce) : null;
        this.journal = tiered ? tiers : base;
        this.notices = b.appendNotices;
        this.lanes = b.lanes;
        this.laneSpace = tiered ? TieredJournal.laneSpace(lanes) : lanes;
        this.clock = b.clock;
        this.telemetry = new Telemetry(b.meterRegistry, b.openTelemetry, b.logContext);
        PayloadCodec codec = new PayloadCodec(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper());
        this.source = b.source;
        this.intake = new Intake(
                lanes,
                clock,
                codec,
                telemetry,
                scope,
                b.maxPayloadBytes,
                b.maxDepth,
                b.highWaterMark,
                b.emitWait,
                b.dedupWindow,
                b.chainBudget);
        journal.open(lanes);
        this.subscriptions = new SubscriptionTable(laneSpace);
        this.pauses = new PauseBoard(journal, clock);
        this.leases = journal.leases()
                .map(l -> new LeaseKeeper(
                        l,
                        instanceId,
                        b.leaseDuration,
                        lanes,
                        subscriptions::workerList,
                        laneChanges("gained"),
                        laneChanges("lost")))
                .orElse(null);
        this.maintenance = new Maintenance(
                journal,
                subscriptions,
                pauses,
                clock,
                new Maintenance.Settings(
                        lanes, laneSpace, b.retention, b.deadLetterRetention, b.alertThreshold, b.alertCallback),
                this::holds);
        this.watchdog = new Watchdog(subscriptions, telemetry);
        this.runtime = new Context(shared(b.random), codec, b.batchSize);
        this.deadLetters =
                new DeadLetters(journal, clock, b.maxReplays, maintenance::recountAll, subscriptions::get, this::holds);
        this.health = new RuntimeHealth(
                logAccess::ping,
                this::deadLettersBySubscription,
                b.deadLetterCapacity,
                b.healthChecks,
                System::nanoTime);
        MeterRegistry registry = telemetry.registry();
        Gauge.builder(KeelMeter.SUBSCRIPTIONS.meterName(), subscriptions, SubscriptionTable::size)
                .description(KeelMeter.SUBSCRIPTIONS.description())
                .register(registry);
        Gauge.builder(KeelMeter.LANES.meterName(), this, k -> k.lanes)
                .description(KeelMeter.LANES.description())
                .tag("state", "total")
                .register(registry);
        Gauge.builder(KeelMeter.LANES.meterName(), this, k -> k.heldLanes().size())
                .description(KeelMeter.LANES.description())
                .tag("state", "held")
                .register(registry);
        for (Subscription s : b.subscriptions) {
            subscribe(s);
        }
        watchdog.start();
    }

    private Counter laneChanges(String direction) {
        return Counter.builder(KeelMeter.LANE_CHANGES.meterName())
                .description(KeelMeter.LANE_CHANGES.description())
                .tag("direction", direction)
                .register(telemetry.registry());
    }

    /** A builder with the defaults: memory journal, 8 lanes, system clock, no metrics or tracing wired. */
    public static Builder builder() {
        return new Builder();
    }

    // ---- subscriptions ----

    /**
     * Subscribes a handler to the types matching a pattern, under a name you choose. The name keys the
     * subscription's cursors: keep it stable across restarts.
     *
     * @throws SubscriptionException when the name is taken
     */
    public <T> Subscription on(String name, String pattern, Class<T> type, Handler<T> handler) {
        return subscribe(
                Subscription.builder(name).types(pattern).handler(type, handler).build());
    }

    /**
     * Subscribes a handler to the types matching a pattern, with the default policy, named
     * {@code on:<pattern>:<class>} after what it takes: the same whatever order handlers are registered in.
     *
     * @throws SubscriptionException when a subscription of that pattern and class exists already: give each
     *     a name with {@link #on(String, String, Class, Handler)}
     */
    public <T> Subscription on(String pattern, Class<T> type, Handler<T> handler) {
        String name = "on:" + pattern + ":" + type.getSimpleName();
        if (subscriptions.contains(name)) {
            throw new SubscriptionException("a handler for '" + pattern + "' taking " + type.getSimpleName()
                    + " is registered already, as '" + name + "'; names key the cursors, so two such handlers"
                    + " need names of their own: use on(name, pattern, type, handler)");
        }
        return on(name, pattern, type, handler);
    }

    /**
     * Adds a subscription. It receives events appended from now on (or, on a durable journal that knows
     * it, from its stored cursor).
     *
     * @throws SubscriptionException when the name is taken
     */
    public Subscription subscribe(Subscription subscription) {
        Objects.requireNonNull(subscription, "subscription");
        ensureOpen();
        synchronized (lifecycle) {
            add(subscription);
        }
        return subscription;
    }

    private void add(Subscription subscription) {
        if (subscriptions.contains(subscription.name())) {
            throw new SubscriptionException("a subscription named '" + subscription.name()
                    + "' exists already; names must be unique (they key the cursors)");
        }
        SubscriptionRuntime s = load(subscription);
        subscriptions.add(s);
        startIfRunning(s);
    }

    /** A subscription's runtime, its lanes loaded from the journal and its counters from the totals there. */
    private SubscriptionRuntime load(Subscription subscription) {
        Tally baseline = subscription.ephemeral() ? Tally.ZERO : journal.tally(subscription.name());
        SubscriptionRuntime s = new SubscriptionRuntime(subscription, runtime, laneSpace, baseline);
        try {
            for (LaneWorker w : s.workers()) {
                w.loadNow();
            }
            maintenance.recount(s);
        } catch (RuntimeException e) {
            removeMeters(s);
            throw e;
        }
        for (Middleware m : subscription.middleware()) {
            if (m instanceof CircuitBreakerMiddleware cb) {
                pauses.watch(cb.breaker());
            }
        }
        return s;
    }

    private void startIfRunning(SubscriptionRuntime s) {
        if (started && state == State.OPEN) {
            for (LaneWorker w : s.workers()) {
                w.start();
            }
        }
    }

    /**
     * Replaces the subscription of the same name: the old one finishes its deliveries in flight (up to
     * twice its timeout), then the new one carries on from the same cursors, pending retries and dead
     * letters, and its counters and meter series continue.
     *
     * @throws SubscriptionException when there is no subscription of that name
     */
    public Subscription replace(Subscription subscription) {
        Objects.requireNonNull(subscription, "subscription");
        ensureOpen();
        SubscriptionRuntime old = subscriptions.get(subscription.name());
        if (old == null) {
            throw new SubscriptionException("no subscription named '" + subscription.name() + "' to replace");
        }
        // Retired in place (still registered, so pruning keeps its events and the watchdog its deliveries);
        // other subscriptions are not held up meanwhile.
        retire(old);
        synchronized (lifecycle) {
            ensureOpen();
            if (subscriptions.get(subscription.name()) != old) {
                throw new SubscriptionException("subscription '" + subscription.name()
                        + "' was replaced or removed by another call meanwhile; try again");
            }
            // Gauges are bound to the old workers; counters and timers are found again by the new ones.
            for (Meter m : old.meters()) {
                if (m instanceof Gauge) {
                    telemetry.registry().remove(m);
                }
            }
            SubscriptionRuntime next;
            try {
                next = load(subscription);
            } catch (RuntimeException e) {
                restore(old, e);
                throw e;
            }
            try {
                subscriptions.swap(old, next);
            } catch (RuntimeException e) {
                removeMeters(next);
                throw e;
            }
            startIfRunning(next);
        }
        return subscription;
    }

    /**
     * After a replacement could not load the new subscription: the old one runs again, or, when it cannot be
     * loaded either (the journal is down), it is removed rather than left registered and dead.
     */
    private void removeMeters(SubscriptionRuntime s) {
        s.meters().forEach(telemetry.registry()::remove);
    }

    private void restore(SubscriptionRuntime old, RuntimeException cause) {
        try {
            SubscriptionRuntime restored = load(old.subscription());
            subscriptions.swap(old, restored);
            startIfRunning(restored);
        } catch (RuntimeException again) {
            cause.addSuppressed(again);
            subscriptions.remove(old.name());
            removeMeters(old);
            log.error(
                    "subscription '{}' could not be replaced nor restored, and is removed; subscribe it again once the"
                            + " journal answers",
                    old.name(),
                    cause);
        }
    }

    /** Removes a subscription; its stored cursors, pending entries and dead letters stay. */
    public boolean unsubscribe(String name) {
        SubscriptionRuntime s = subscriptions.get(name);
        if (s == null) {
            return false;
        }
        // Retired while still registered: the watchdog keeps watching its deliveries in flight.
        retire(s);
        synchronized (lifecycle) {
            if (subscriptions.get(name) != s) {
                return false; // removed or replaced meanwhile
            }
            subscriptions.remove(name);
            removeMeters(s);
        }
        return true;
    }

    /**
     * Stops a subscription's lanes: no pass starts any more, passes under way end (each lane waits for its
     * delivery in flight, all within one deadline of twice the timeout), and what they held back is committed.
     */
    private static void retire(SubscriptionRuntime s) {
        Duration timeout = s.subscription().policy().timeout();
        Duration wait = timeout != null ? timeout.multipliedBy(2) : Duration.ofSeconds(5);
        for (LaneWorker w : s.workers()) {
            w.beginRetirement();
        }
        long deadline = System.nanoTime() + wait.toNanos();
        for (LaneWorker w : s.workers()) {
            if (!w.finishRetirement(deadline)) {
                log.warn(
                        "subscription '{}' lane {}: a delivery was still running when the subscription was retired;"
                                + " its outcome is dropped and its event delivered again",
                        s.name(),
                        w.lane());
            }
        }
    }

    /** The registered subscriptions. */
    public List<Subscription> subscriptions() {
        return subscriptions.all().stream()
                .map(SubscriptionRuntime::subscription)
                .toList();
    }

    // ---- emit ----

    /**
     * Emits an event built by the producer. An event with an {@code idempotencyKey}, or else with the same
     * {@code source} and {@code id} as one accepted within the dedup window, is accepted once; the
     * repeat's receipt says {@code duplicate}.
     *
     * <p>Invalid input fails at once with a typed exception and stores nothing: {@link InvalidEventException},
     * {@link PayloadTooLargeException}, {@link LoopDetectedException}, {@link IntakeFullException} (after
     * waiting up to the emit wait bound), {@link KeelClosedException}. The future fails with a
     * {@link dev.keel.spi.JournalException} when the journal could not store the event.
     *
     * @return completes with the receipt once the journal holds the event (durably, on a durable engine)
     */
    public CompletableFuture<Receipt> emit(Event<?> event) {
        Objects.requireNonNull(event, "event");
        return emitOne(event, true);
    }

    /** Emits an event of the type with the data and no ordering key. See {@link #emit(Event)}. */
    public CompletableFuture<Receipt> emit(String type, Object data) {
        return emit(type, null, data);
    }

    /** Emits an event of the type with the data, ordered by the key. See {@link #emit(Event)}. */
    public CompletableFuture<Receipt> emit(String type, String key, Object data) {
        Event<Object> e;
        try {
            long now = clock.millis();
            e = Event.bare(EventIds.next(now), source, type, Instant.ofEpochMilli(now), data, key);
        } catch (InvalidEventException ex) {
            intake.reject("invalid");
            throw ex;
        }
        return emitOne(e, false);
    }

    /**
     * Emits events in order, all or nothing: if one is invalid none is stored, and the journal stores the
     * batch as one unit. Same-key events keep the list's order.
     */
    public CompletableFuture<List<Receipt>> emitBatch(List<? extends Event<?>> events) {
        return emitBatch(events, false, journal::append);
    }

    /**
     * Emits events, all or nothing, through a store that writes them to this runtime's journal together with
     * records of its own, in one transaction: for modules that keep their own tables in the journal's database
     * (the event store of keel-eventsourcing), so that their records and the events they publish are never a
     * dual write. The runtime validates and prepares the events as {@link #emitBatch} does (ids, lanes, loop
     * protection, trace context) and hands the prepared appends to {@code store}, which must append exactly
     * those, in order, to the journal this runtime was built with, and complete with the journal's results.
     * Events emitted this way are always stored durably, whatever the at-most-once tier would take; they claim
     * no dedup key (the store's records keep repeats out); and those caused by a delivery (depth above 0) are
     * not held by the intake's backpressure, as emits from a handler's own thread are not.
     *
     * @param store appends the prepared events and its own records in one transaction
     * @return completes with the receipts once the store's transaction is durable; fails as the store's
     *     future fails: then nothing of it was stored, unless the connection was lost while committing (then
     *     the store's records say whether it was)
     */
    public CompletableFuture<List<Receipt>> emitThrough(
            List<? extends Event<?>> events, Function<List<Append>, CompletableFuture<List<AppendResult>>> store) {
        Objects.requireNonNull(store, "store");
        return emitBatch(events, true, store);
    }

    /**
     * The event whose delivery the calling thread is handling, if any: what an event emitted now is caused by.
     * For modules that emit on another thread on a handler's behalf and must carry its causation chain (the
     * causation id, correlation id, tenant and depth) across.
     */
    public Optional<Event<?>> eventBeingHandled() {
        Delivery<?> d = scope.current();
        return d == null ? Optional.empty() : Optional.of(d.event());
    }

    private CompletableFuture<List<Receipt>> emitBatch(
            List<? extends Event<?>> events,
            boolean durable,
            Function<List<Append>, CompletableFuture<List<AppendResult>>> store) {
        ensureOpen();
        List<Event<?>> prepared = new ArrayList<>(events.size());
        for (Event<?> e : events) {
            prepared.add(intake.prepare(Objects.requireNonNull(e, "event in batch")));
        }
        // A batch is stored as one unit, in one tier: in memory only when every event of it may be.
        boolean inMemory = !durable && tiers != null && tiers.allAtMostOnce(prepared);
        int[] laneOf = new int[prepared.size()];
        for (int i = 0; i < laneOf.length; i++) {
            int lane = intake.laneOf(prepared.get(i));
            laneOf[i] = inMemory ? tiers.memoryLane(lane) : lane;
            // Through a store, events caused by a delivery are not held, wherever they are emitted: as from a
            // handler's thread, holding them could wait on the very delivery that caused them.
            if (!durable || prepared.get(i).depth() == 0) {
                intake.awaitRoom(laneOf[i], this::backlog, this::wakeLane, this::ensureOpen);
            }
        }
        List<Append> appends = new ArrayList<>(prepared.size());
        List<Span> spans = new ArrayList<>();
        for (int i = 0; i < prepared.size(); i++) {
            Event<?> ready = prepared.get(i);
            Span span = telemetry.startProducer(ready.type());
            if (span != null) {
                ready = ready.toBuilder()
                        .traceparent(Telemetry.traceparent(span))
                        .build();
                spans.add(span);
            }
            // Through a store, the store's own records keep repeats out: no dedup key to claim (one that found a
            // repeat would drop the log event while the store's records commit).
            appends.add(durable ? new Append(laneOf[i], ready, null, null) : intake.append(ready, laneOf[i], true));
        }
        CompletableFuture<List<AppendResult>> stored;
        boolean timed = telemetry.metering();
        long start = timed ? System.nanoTime() : 0L;
        try {
            stored = store.apply(List.copyOf(appends));
        } catch (RuntimeException e) {
            stored = CompletableFuture.failedFuture(e);
        }
        return tracked(stored)
                .whenComplete((r, err) -> {
                    if (timed) {
                        telemetry.appended(start, err == null);
                    }
                    spans.forEach(Span::end);
                    // Through a store, a refusal of the store's own (a version conflict) is not the journal's.
                    if (err != null && (!durable || journalFailure(err))) {
                        intake.reject("journal");
                    }
                })
                .thenApply(results -> {
                    if (results.size() != appends.size()) {
                        throw new IllegalStateException("the store answered " + results.size() + " results for "
                                + appends.size() + " appends; it must append exactly the events it was given");
                    }
                    List<Receipt> receipts = new ArrayList<>(results.size());
                    for (int i = 0; i < results.size(); i++) {
                        receipts.add(accepted(appends.get(i).event(), results.get(i)));
                    }
                    return receipts;
                });
    }

    /**
     * Emits every event a publisher gives, in order, with at most 256 awaiting the journal at once.
     *
     * @return completes with the count once all are stored; fails with the first error
     */
    public CompletableFuture<Long> emitAll(Publisher<? extends Event<?>> events) {
        return Flux.from(events)
                .map(this::emit)
                .flatMapSequential(Mono::fromFuture, 256)
                .count()
                .toFuture();
    }

    private CompletableFuture<Receipt> emitOne(Event<?> event, boolean producerIdentified) {
        ensureOpen();
        Event<?> ready = intake.prepare(event);
        int lane = tiers == null ? intake.laneOf(ready) : tiers.laneOf(ready.type(), intake.laneOf(ready));
        intake.awaitRoom(lane, this::backlog, this::wakeLane, this::ensureOpen);
        Span span = telemetry.startProducer(ready.type());
        if (span != null) {
            ready = ready.toBuilder().traceparent(Telemetry.traceparent(span)).build();
        }
        Append a = intake.append(ready, lane, producerIdentified);
        boolean timed = telemetry.metering();
        long start = timed ? System.nanoTime() : 0L;
        AppendResult now = journal.appendNow(a);
        if (now != null) {
            // Stored at once (the memory engine): no future to track or chain.
            if (timed) {
                telemetry.appended(start, true);
            }
            if (span != null) {
                span.end();
            }
            return CompletableFuture.completedFuture(accepted(ready, now));
        }
        CompletableFuture<AppendResult> stored = journal.append(a);
        Event<?> kept = ready;
        return tracked(stored)
                .whenComplete((r, err) -> {
                    if (timed) {
                        telemetry.appended(start, err == null);
                    }
                    if (span != null) {
                        span.end();
                    }
                    if (err != null) {
                        intake.reject("journal");
                    }
                })
                .thenApply(r -> accepted(kept, r));
    }

    private static boolean journalFailure(Throwable err) {
        Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
                ? err.getCause()
                : err;
        return cause instanceof dev.keel.spi.JournalException;
    }

    private Receipt accepted(Event<?> e, AppendResult r) {
        if (r.duplicate()) {
            duplicates.increment();
        } else {
            emitted.increment();
            if (telemetry.metering()) {
                telemetry.emitted(e.type());
            }
            signal(r.lane());
            if (notices != null && r.lane() < lanes) {
                notices.published(r.lane(), r.sequence());
            }
        }
        return new Receipt(r.eventId(), r.lane(), r.sequence(), r.duplicate());
    }

    private long backlog(int lane) {
        return subscriptions.backlog(lane, journal.head(lane));
    }

    /** After an append to the lane is stored: wakes its workers, and tells the append watches. */
    private void signal(int lane) {
        for (LaneWorker w : subscriptions.workers(lane)) {
            w.wakeIfSleeping();
        }
        if (lane < lanes) {
            for (IntConsumer watch : appendWatches) {
                try {
                    watch.accept(lane);
                } catch (RuntimeException e) {
                    log.warn("an append watch failed; the append itself is stored", e);
                }
            }
        }
    }

    private void wakeLane(int lane) {
        for (LaneWorker w : subscriptions.workers(lane)) {
            w.wakeIfSleeping();
        }
    }

    /** Counts an append the journal completes later, for {@link #process()}. */
    private <T> CompletableFuture<T> tracked(CompletableFuture<T> append) {
        appendsInFlight.incrementAndGet();
        return append.whenComplete((r, e) -> appendsInFlight.decrementAndGet());
    }

    private void ensureOpen() {
        if (state != State.OPEN) {
            intake.reject("closed");
            throw new KeelClosedException(
                    "the Keel runtime is " + state.name().toLowerCase() + " and takes no more events");
        }
    }

    // ---- streams ----

    /**
     * A live stream of the events of matching types as they are delivered from now on, in order per key.
     * Demand is honoured: while the subscriber requests nothing the stream's lanes pause (events wait in
     * the journal, up to the intake high-water mark). Cancelling removes the underlying subscription.
     */
    public Flux<Event<?>> stream(String pattern) {
        TypePattern.of(pattern);
        return Flux.create(
                sink -> {
                    String name = "stream:" + EventIds.next();
                    subscribe(Subscription.builder(name)
                            .types(pattern)
                            .handler(Object.class, d -> offer(sink, d.event()))
                            .retry(RetryPolicy.NO_RETRY)
                            .timeout(null)
                            .ephemeral(true)
                            .build());
                    sink.onDispose(() -> unsubscribe(name));
                },
                FluxSink.OverflowStrategy.BUFFER);
    }

    private static void offer(FluxSink<Event<?>> sink, Event<?> event) {
        if (sink.isCancelled()) {
            return;
        }
        if (sink.requestedFromDownstream() <= 0) {
            throw new DeliveryPausedException(
                    "the stream's subscriber has requested no more events", Duration.ofMillis(2));
        }
        sink.next(event);
    }

    // ---- running ----

    /**
     * Synchronously delivers everything due now, including events emitted by handlers meanwhile, and
     * returns the number of deliveries and moves made. Retries due later stay pending (advance a test
     * clock and call it again).
     */
    public int process() {
        int total = 0;
        int round;
        do {
            // Events handlers emitted on a durable journal are stored asynchronously: wait for them, or the
            // round that should deliver them would find nothing yet.
            while (appendsInFlight.get() > 0) {
                LockSupport.parkNanos(100_000);
            }
            round = 0;
            boolean progress;
            do {
                progress = false;
                for (SubscriptionRuntime s : subscriptions.all()) {
                    for (LaneWorker w : s.workers()) {
                        int work = w.runOnce();
                        round += work;
                        progress |= work > 0;
                    }
                }
            } while (progress);
            maintenance.runOnce();
            total += round;
        } while (round > 0 || appendsInFlight.get() > 0);
        return total;
    }

    /** Starts continuous delivery: a runner per subscription and lane. Idempotent. */
    public Keel start() {
        synchronized (lifecycle) {
            ensureOpen();
            if (started) {
                return this;
            }
            if (leases != null) {
                leases.start(); // first: a journal that cannot grant leases fails the start, which may be tried again
            }
            running = true;
            started = true;
            // Other instances' appends wake this one's readers at once, where the engine or the notices tell of them.
            appendsElsewhere.add(journal.watchAppendsElsewhere(this::signal));
            if (notices != null) {
                appendsElsewhere.add(notices.watch((lane, sequence) -> {
                    if (lane >= 0 && lane < lanes) {
                        journal.appendedElsewhere(lane, sequence);
                        signal(lane);
                    }
                }));
            }
            for (SubscriptionRuntime s : subscriptions.all()) {
                for (LaneWorker w : s.workers()) {
                    w.start();
                }
            }
            maintenance.start();
        }
        return this;
    }

    private boolean leasing() {
        return leases != null && started;
    }

    private boolean holds(int lane) {
        return !leasing() || leases.holds(lane);
    }

    /** This runtime's name among the instances sharing its journal. */
    public String instanceId() {
        return instanceId;
    }

    /** The lanes this instance delivers now (all of them unless the journal is shared and leased). */
    public Set<Integer> heldLanes() {
        if (!leasing()) {
            Set<Integer> all = new TreeSet<>();
            for (int i = 0; i < lanes; i++) {
                all.add(i);
            }
            return all;
        }
        return leases.held();
    }

    // ---- pauses every instance honours ----

    /**
     * Pauses a subscription on every instance sharing the journal until the instant passes or
     * {@link #resume(String)}; nothing is delivered to it meanwhile and no attempts are used. Others see it
     * within a second.
     *
     * @throws SubscriptionException when no subscription has that name
     */
    public void pause(String subscription, Duration duration) {
        if (!subscriptions.contains(subscription)) {
            throw new SubscriptionException("no subscription named '" + subscription + "' to pause");
        }
        if (duration == null || duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException("pause duration must be positive but was " + duration);
        }
        pauses.set(PauseKey.subscription(subscription), clock.instant().plus(duration));
    }

    /** Ends a pause made by {@link #pause(String, Duration)} on every instance. */
    public void resume(String subscription) {
        pauses.set(PauseKey.subscription(subscription), null);
        SubscriptionRuntime s = subscriptions.get(subscription);
        if (s != null) {
            s.workers().forEach(LaneWorker::wake);
        }
    }

    /** Until when a subscription is paused (by an operator or by an open circuit), or null. */
    public Instant pausedUntil(String subscription) {
        pauses.refresh(false);
        SubscriptionRuntime s = subscriptions.get(subscription);
        return pauses.pausedUntil(subscription, s == null ? List.of() : s.breakers());
    }

    // ---- admin, stats ----

    /** Listing, inspecting, reprocessing and purging dead letters. */
    public DeadLetters deadLetters() {
        return deadLetters;
    }

    /**
     * The runtime's health: the journal (one cheap read, timed), the dead letters against their capacity (degraded
     * over half of it, critical at it; see {@link Builder#deadLetterCapacity}), and the components registered with
     * {@link Builder#healthCheck}. Its status is the worst of theirs. Safe from any thread; a health endpoint calls it.
     */
    public ComponentHealth health() {
        return health.check();
    }

    private Map<String, Long> deadLettersBySubscription() {
        Map<String, Long> out = new java.util.HashMap<>();
        for (SubscriptionRuntime s : subscriptions.all()) {
            if (!s.subscription().ephemeral()) {
                out.put(s.name(), s.deadLetterCount());
            }
        }
        return out;
    }

    /**
     * The registry this runtime meters into ({@link Builder#meterRegistry}): a server in front of the runtime adds
     * registries of its own behind it when it is a {@link CompositeMeterRegistry} (the default).
     */
    public MeterRegistry meterRegistry() {
        return telemetry.registry();
    }

    /**
     * A snapshot of the counters. A subscription's delivery counts are totals the journal keeps (they survive
     * restarts and {@link #replace}); emits and lags are this runtime's.
     */
    public KeelStats stats() {
        List<SubscriptionStats> subs = new ArrayList<>();
        for (SubscriptionRuntime s : subscriptions.all()) {
            Tally t = s.totals();
            subs.add(new SubscriptionStats(
                    s.name(),
                    t.delivered(),
                    t.failedAttempts(),
                    t.retriesScheduled(),
                    t.deadLettered(),
                    s.deadLetterCount(),
                    s.pendingCount(false),
                    s.pendingCount(true),
                    s.lag(),
                    s.pauses(),
                    folded(s.lagByLane())));
        }
        subs.sort(Comparator.comparing(SubscriptionStats::name));
        return new KeelStats(emitted.sum(), duplicates.sum(), intake.rejected(), lanes, subs);
    }

    /** Lag by lane, with an in-memory tier's lanes added to the durable lanes of the same number. */
    private List<Long> folded(List<Long> byLane) {
        if (byLane.size() == lanes) {
            return byLane;
        }
        List<Long> out = new ArrayList<>(lanes);
        for (int i = 0; i < lanes; i++) {
            out.add(byLane.get(i) + byLane.get(i + lanes));
        }
        return out;
    }

    /**
     * The lanes whose delivery in flight has run longer than {@code threshold}: a handler that does not return
     * (one with a timeout is interrupted, and taken over at twice it, so this finds mostly handlers without
     * one). For health checks.
     */
    public List<StuckLane> stuckLanes(Duration threshold) {
        long now = watchdog.coarseNanos();
        List<StuckLane> out = new ArrayList<>();
        for (SubscriptionRuntime s : subscriptions.all()) {
            for (LaneWorker w : s.workers()) {
                long running = w.deliveringFor(now);
                if (running > threshold.toNanos()) {
                    out.add(new StuckLane(s.name(), w.lane() % lanes, Duration.ofNanos(running)));
                }
            }
        }
        return out;
    }

    /**
     * The deliveries running now, longest-running first, with how long each has run and its deadline: for operators
     * (the server lists them at {@code GET /v1/deliveries}). A delivery that just began or ended may be missed or
     * shown once more.
     */
    public List<RunningDelivery> runningDeliveries() {
        long now = watchdog.coarseNanos();
        List<RunningDelivery> out = new ArrayList<>();
        for (SubscriptionRuntime s : subscriptions.all()) {
            for (LaneWorker w : s.workers()) {
                RunningDelivery r = w.running(now, lanes);
                if (r != null) {
                    out.add(r);
                }
            }
        }
        out.sort(Comparator.comparing(RunningDelivery::running).reversed());
        return out;
    }

    /**
     * Cancels the delivery of an event to a subscription while it runs: the handler is interrupted, and the attempt
     * fails with a {@link DeliveryCancelledException}, so the event is retried by the subscription's retry policy
     * (a handler that ignores interrupts runs on until it returns; with a timeout, it is taken over at twice it).
     *
     * @return whether that delivery was running
     * @throws SubscriptionException when no such subscription is registered
     */
    public boolean cancel(String subscription, String eventId) {
        SubscriptionRuntime s = subscriptions.get(subscription);
        if (s == null) {
            throw new SubscriptionException("no subscription '" + subscription + "' is registered");
        }
        for (LaneWorker w : s.workers()) {
            if (w.cancel(eventId)) {
                return true;
            }
        }
        return false;
    }

    /**
     * A lane whose delivery has run too long.
     *
     * @param subscription the subscription
     * @param lane the lane
     * @param running how long the delivery in flight has run
     */
    public record StuckLane(String subscription, int lane, Duration running) {}

    /** The number of lanes the log is split into. */
    public int lanes() {
        return lanes;
    }

    /** Reading the log directly, for tools beside the runtime (the server's event streams). */
    public LogAccess logAccess() {
        return logAccess;
    }

    /**
     * The journal's record of administrative actions (the server's audit log), shared by every instance on the
     * journal; empty when the engine keeps none.
     */
    public java.util.Optional<dev.keel.spi.AuditTrail> auditTrail() {
        return journal.auditTrail();
    }

    /** Subscription definitions kept in the journal for every instance sharing it (the server's webhooks). */
    public SubscriptionStore subscriptionStore() {
        return subscriptionStore;
    }

    private final SubscriptionStore subscriptionStore = new SubscriptionStore() {
        @Override
        public long save(String key, String document) {
            return journal.saveSubscription(key, document);
        }

        @Override
        public long delete(String key) {
            return journal.deleteSubscription(key);
        }

        @Override
        public List<dev.keel.spi.Coordination.StoredSubscription> list() {
            return journal.subscriptions();
        }

        @Override
        public long revision() {
            return journal.subscriptionsRevision();
        }
    };

    private final LogAccess logAccess = new LogAccess() {
        @Override
        public int lanes() {
            return lanes;
        }

        @Override
        public long head(int lane) {
            check(lane);
            return journal.head(lane);
        }

        @Override
        public List<LogRecord> read(int lane, long after, int max) {
            check(lane);
            return journal.read(lane, after, max);
        }

        @Override
        public Hold holdPruning(IntToLongFunction readTo) {
            Objects.requireNonNull(readTo, "readTo");
            Runnable release = maintenance.holdPruning(readTo);
            return release::run;
        }

        @Override
        public Watch watchAppends(IntConsumer appended) {
            Objects.requireNonNull(appended, "appended");
            appendWatches.add(appended);
            return () -> appendWatches.remove(appended);
        }

        @Override
        public void ping() {
            journal.cursor("keel-health", 0);
        }

        @Override
        public boolean toldOfAppendsElsewhere() {
            return notices != null ? notices.live() : journal.tellsOfAppendsElsewhere();
        }

        private void check(int lane) {
            if (lane < 0 || lane >= lanes) {
                throw new IllegalArgumentException("lane must be between 0 and " + (lanes - 1) + " but was " + lane);
            }
        }
    };

    // ---- close ----

    /** Closes with a 30 second drain deadline. */
    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    /**
     * Closes gracefully: stops intake at once ({@link KeelClosedException} for new emits), lets running
     * delivery loops catch up until the deadline, interrupts handlers still running then, and closes the
     * journal. Idempotent.
     *
     * @return what was finished and what was left
     */
    public ShutdownReport close(Duration deadline) {
        long start = System.nanoTime();
        synchronized (lifecycle) {
            if (state != State.OPEN) {
                return closeReport != null ? closeReport : new ShutdownReport(false, Duration.ZERO, 0, 0, 0, 0);
            }
            state = State.CLOSING;
        }
        long until = start + deadline.toNanos();
        boolean drained = !started || awaitDrained(until);
        running = false;
        int interrupted = 0;
        List<Thread> threads = new ArrayList<>();
        for (SubscriptionRuntime s : subscriptions.all()) {
            for (LaneWorker w : s.workers()) {
                if (w.interruptDelivery()) {
                    interrupted++;
                }
                w.wake();
                Thread runner = w.runnerThread();
                if (runner != null) {
                    threads.add(runner);
                }
            }
        }
        long joinUntil = System.nanoTime() + Duration.ofSeconds(1).toNanos();
        for (Thread t : threads) {
            try {
                long left = joinUntil - System.nanoTime();
                if (left > 0) {
                    t.join(Duration.ofNanos(left));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            if (t.isAlive()) {
                log.warn(
                        "delivery thread {} did not stop within 1 s of the close deadline; its last outcomes may be"
                                + " redelivered",
                        t);
            }
        }
        watchdog.stop();
        maintenance.stop();
        long undelivered = 0;
        long pending = 0;
        long parked = 0;
        for (SubscriptionRuntime s : subscriptions.all()) {
            undelivered += s.lag();
            pending += s.pendingCount(false);
            parked += s.pendingCount(true);
        }
        if (!started) {
            drained = undelivered + pending + parked == 0;
        }
        ShutdownReport report = new ShutdownReport(
                drained, Duration.ofNanos(System.nanoTime() - start), undelivered, pending, parked, interrupted);
        synchronized (lifecycle) {
            closeReport = report;
            state = State.CLOSED;
        }
        if (leases != null && started) {
            leases.close();
        }
        for (AutoCloseable watch : appendsElsewhere) {
            try {
                watch.close();
            } catch (Exception e) {
                log.warn("a watch on other instances' appends did not close", e);
            }
        }
        if (notices != null) {
            notices.close();
        }
        journal.close();
        if (undelivered + pending + parked > 0 || !drained) {
            log.warn("Keel closed with work left: {}", report);
        } else {
            log.info("Keel closed: {}", report);
        }
        return report;
    }

    private boolean awaitDrained(long until) {
        while (true) {
            boolean all = true;
            for (SubscriptionRuntime s : subscriptions.all()) {
                for (LaneWorker w : s.workers()) {
                    if (!w.isDrained()) {
                        all = false;
                        w.wakeIfSleeping();
                    }
                }
            }
            if (all) {
                return true;
            }
            if (System.nanoTime() - until >= 0) {
                return false;
            }
            LockSupport.parkNanos(Duration.ofMillis(2).toNanos());
        }
    }

    /** What the lane workers may ask of this runtime: a narrow view of it (see {@link LaneContext}). */
    private final class Context implements LaneContext {
        private final RandomGenerator random;
        private final PayloadCodec codec;
        private final int batchSize;

        Context(RandomGenerator random, PayloadCodec codec, int batchSize) {
            this.random = random;
            this.codec = codec;
            this.batchSize = batchSize;
        }

        @Override
        public EventLog log() {
            return journal;
        }

        @Override
        public DeadLetterStore deadLetterStore() {
            return journal;
        }

        @Override
        public Clock clock() {
            return clock;
        }

        @Override
        public RandomGenerator random() {
            return random;
        }

        @Override
        public PayloadCodec codec() {
            return codec;
        }

        @Override
        public Telemetry telemetry() {
            return telemetry;
        }

        @Override
        public DeliveryScope deliveryScope() {
            return scope;
        }

        @Override
        public int batchSize() {
            return batchSize;
        }

        @Override
        public long coarseNanos() {
            return watchdog.coarseNanos();
        }

        @Override
        public boolean running() {
            return started && running;
        }

        @Override
        public boolean stopping() {
            return started && !running;
        }

        @Override
        public boolean holds(int lane) {
            return Keel.this.holds(lane);
        }

        @Override
        public boolean leased() {
            return leasing();
        }

        @Override
        public long fence(int lane) {
            return leasing() ? leases.fence(lane) : dev.keel.spi.Commit.NO_FENCE;
        }

        @Override
        public boolean pausedByStore(SubscriptionRuntime s) {
            return pauses.paused(s.name(), s.breakers());
        }

        @Override
        public void deadLettersChanged(SubscriptionRuntime s) {
            maintenance.recount(s);
        }

        @Override
        public Thread startRunner(String name, Runnable loop) {
            return Thread.ofVirtual().name(name).start(loop);
        }
    }

    /**
     * The random source of retry jitter, safe to share: every lane's ledger draws from it, rarely (once per
     * failed attempt), and a seeded generator stays one sequence.
     */
    private static RandomGenerator shared(RandomGenerator random) {
        return new RandomGenerator() {
            @Override
            public synchronized long nextLong() {
                return random.nextLong();
            }

            @Override
            public synchronized double nextDouble() {
                return random.nextDouble();
            }
        };
    }

    /** Configures a {@link Keel}; each setter checks its value and names it when it is wrong. */
    public static final class Builder {
        /** Default lane count. */
        public static final int DEFAULT_LANES = 8;
        /** Default payload limit: 1 MiB. */
        public static final long DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;
        /** Default causation depth limit. */
        public static final int DEFAULT_MAX_DEPTH = 32;
        /** Default backlog per lane at which emits wait. */
        public static final long DEFAULT_HIGH_WATER_MARK = 65_536;
        /** Default bound on how long an emit waits for room. */
        public static final Duration DEFAULT_EMIT_WAIT = Duration.ofSeconds(5);
        /** Default dedup window. */
        public static final Duration DEFAULT_DEDUP_WINDOW = Duration.ofHours(24);
        /** Default replay limit per dead letter. */
        public static final int DEFAULT_MAX_REPLAYS = 5;
        /** Default lane lease on a shared journal. */
        public static final Duration DEFAULT_LEASE_DURATION = Duration.ofSeconds(10);
        /** The default dead-letter capacity of {@link #deadLetterCapacity}: 100,000. */
        public static final long DEFAULT_DEAD_LETTER_CAPACITY = 100_000;

        private Journal journal;
        private AppendNotices appendNotices;
        private int lanes = DEFAULT_LANES;
        private Clock clock = Clock.systemUTC();
        private RandomGenerator random = RandomGenerator.getDefault();
        private MeterRegistry meterRegistry = new CompositeMeterRegistry();
        private OpenTelemetry openTelemetry;
        private ObjectMapper objectMapper;
        private PayloadCompression payloadCompression;
        private String source = Event.DEFAULT_SOURCE;
        private int batchSize = 256;
        private long maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
        private int maxDepth = DEFAULT_MAX_DEPTH;
        private long highWaterMark = DEFAULT_HIGH_WATER_MARK;
        private Duration emitWait = DEFAULT_EMIT_WAIT;
        private Duration dedupWindow = DEFAULT_DEDUP_WINDOW;
        private Duration retention = Duration.ZERO;
        private Duration deadLetterRetention;
        private long alertThreshold = Long.MAX_VALUE;
        private long deadLetterCapacity = DEFAULT_DEAD_LETTER_CAPACITY;
        private boolean logContext;
        private Duration chainBudget;
        private final List<ComponentHealth.Check> healthChecks = new ArrayList<>();
        private Consumer<DeadLetterAlert> alertCallback;
        private int maxReplays = DEFAULT_MAX_REPLAYS;
        private Duration leaseDuration = DEFAULT_LEASE_DURATION;
        private final List<TypePattern> atMostOnce = new ArrayList<>();
        private final List<Subscription> subscriptions = new ArrayList<>();

        private Builder() {}

        /** The storage engine; the runtime opens and closes it. Default: a new {@link MemoryJournal}. */
        public Builder journal(Journal value) {
            this.journal = Objects.requireNonNull(value, "journal");
            return this;
        }

        /**
         * Tells the other instances sharing the journal of this one's appends, and this one of theirs, so that readers
         * wake at once rather than at their next poll (see {@link AppendNotices}). Not needed on an engine that is
         * told of appends by itself (Redis). None by default.
         */
        public Builder appendNotices(AppendNotices value) {
            this.appendNotices = Objects.requireNonNull(value, "appendNotices");
            return this;
        }

        /** Lanes, the unit of parallelism and ordering. A durable journal fixes it at first use. */
        public Builder lanes(int value) {
            if (value < 1 || value > 1024) {
                throw new IllegalArgumentException("lanes must be between 1 and 1024 but was " + value);
            }
            this.lanes = value;
            return this;
        }

        /** The clock for event times and due times (a test clock in tests). */
        public Builder clock(Clock value) {
            this.clock = Objects.requireNonNull(value, "clock");
            return this;
        }

        /** The random source of retry jitter (seed it in tests). */
        public Builder random(RandomGenerator value) {
            this.random = Objects.requireNonNull(value, "random");
            return this;
        }

        /** Where meters go (see {@link KeelMeter}); none by default. */
        public Builder meterRegistry(MeterRegistry value) {
            this.meterRegistry = Objects.requireNonNull(value, "meterRegistry");
            return this;
        }

        /** Where spans go: a producer span per emit, a consumer span per delivery. None by default. */
        public Builder openTelemetry(OpenTelemetry value) {
            this.openTelemetry = Objects.requireNonNull(value, "openTelemetry");
            return this;
        }

        /** The mapper used to convert event data to handler types and to measure payloads. */
        public Builder objectMapper(ObjectMapper value) {
            this.objectMapper = Objects.requireNonNull(value, "objectMapper");
            return this;
        }

        /**
         * Whether the journal compresses the data of the events it stores, and from what size: e.g. {@code
         * PayloadCompression.lz4()} (LZ4 from 4 KiB). Default {@link PayloadCompression#NONE}. Records read back
         * alike whatever the setting; see {@link PayloadCompression}.
         */
        public Builder payloadCompression(PayloadCompression value) {
            this.payloadCompression = Objects.requireNonNull(value, "payloadCompression");
            return this;
        }

        /** The {@code source} of events emitted by type and data. Default {@code /keel}. */
        public Builder source(String value) {
            if (value == null || value.isBlank()) {
                throw new IllegalArgumentException("source must be a non-blank URI reference but was '" + value + "'");
            }
            this.source = value;
            return this;
        }

        /** Records read per pass of a lane. Default 256. */
        public Builder batchSize(int value) {
            if (value < 1 || value > 100_000) {
                throw new IllegalArgumentException("batchSize must be between 1 and 100000 but was " + value);
            }
            this.batchSize = value;
            return this;
        }

        /** The largest payload accepted, in bytes of JSON; 0 for no limit. Default 1 MiB. */
        public Builder maxPayloadBytes(long value) {
            if (value < 0) {
                throw new IllegalArgumentException("maxPayloadBytes must be 0 (no limit) or more but was " + value);
            }
            this.maxPayloadBytes = value;
            return this;
        }

        /** The longest causation chain (events emitted while handling events). Default 32. */
        public Builder maxDepth(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxDepth must be at least 1 but was " + value);
            }
            this.maxDepth = value;
            return this;
        }

        /**
         * Backpressure: when a lane holds this many events some subscription has not passed, emits to it
         * wait up to {@code maxWait}, then fail with {@link IntakeFullException}. 0 turns it off.
         */
        public Builder intake(long highWaterMark, Duration maxWait) {
            if (highWaterMark < 0) {
                throw new IllegalArgumentException("highWaterMark must be 0 (off) or more but was " + highWaterMark);
            }
            if (maxWait == null || maxWait.isNegative()) {
                throw new IllegalArgumentException("maxWait must be zero or positive but was " + maxWait);
            }
            this.highWaterMark = highWaterMark;
            this.emitWait = maxWait;
            return this;
        }

        /** How long idempotency keys and producer ids are remembered. Default 24 h. */
        public Builder dedupWindow(Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("dedupWindow must be positive but was " + value);
            }
            this.dedupWindow = value;
            return this;
        }

        /** How long events every subscription has passed are kept before pruning. Default 0. */
        public Builder retention(Duration value) {
            if (value == null || value.isNegative()) {
                throw new IllegalArgumentException("retention must be zero or positive but was " + value);
            }
            this.retention = value;
            return this;
        }

        /** How long dead letters are kept; null (the default) keeps them until deleted. */
        public Builder deadLetterRetention(Duration value) {
            if (value != null && (value.isNegative() || value.isZero())) {
                throw new IllegalArgumentException("deadLetterRetention must be positive or null but was " + value);
            }
            this.deadLetterRetention = value;
            return this;
        }

        /** Calls back (and so can page someone) when a subscription's dead letters reach the threshold. */
        public Builder deadLetterAlert(long threshold, Consumer<DeadLetterAlert> callback) {
            if (threshold < 1) {
                throw new IllegalArgumentException(
                        "dead letter alert threshold must be at least 1 but was " + threshold);
            }
            this.alertThreshold = threshold;
            this.alertCallback = Objects.requireNonNull(callback, "callback");
            return this;
        }

        /**
         * How many dead letters the operator means to hold at most, for {@link Keel#health()}: over half of it the
         * runtime is degraded, at it critical (a server then answers {@code /health/ready} with 503). Nothing is
         * refused or dropped at the capacity; it is an alarm. Default {@value #DEFAULT_DEAD_LETTER_CAPACITY}.
         */
        public Builder deadLetterCapacity(long value) {
            if (value < 1) {
                throw new IllegalArgumentException("deadLetterCapacity must be at least 1 but was " + value);
            }
            this.deadLetterCapacity = value;
            return this;
        }

        /**
         * The time a causation chain — an event emitted outside a handler and everything its handlers emit, and
         * theirs — may take: its root is given a deadline of its emit plus this, every event it causes inherits it
         * ({@link Event#deadline()}), a delivery past it does not start (the event is dead-lettered with a
         * {@link ChainBudgetExceededException}; reprocessing runs it anyway), an event caused past it is refused, and
         * {@link Delivery#deadline()} is never later than it. None by default.
         */
        public Builder chainBudget(Duration value) {
            if (value != null && (value.isNegative() || value.isZero())) {
                throw new IllegalArgumentException("chainBudget must be positive (or null for none) but was " + value);
            }
            this.chainBudget = value;
            return this;
        }

        /**
         * Puts each delivery into the logging context (SLF4J's MDC) while its handler runs: {@code eventId},
         * {@code subscription}, {@code correlationId} and {@code traceId}, so structured logs tie every line to its
         * event and trace. Off by default (a few map operations per delivery); {@code keel serve} turns it on.
         */
        public Builder logContext(boolean value) {
            this.logContext = value;
            return this;
        }

        /**
         * A component {@link Keel#health()} shows beside the journal and the dead letters: a Redis cache, a relay,
         * a dependency of the handlers. Its check is called on every health request, so it should answer from what
         * the component last measured.
         */
        public Builder healthCheck(ComponentHealth.Check check) {
            healthChecks.add(Objects.requireNonNull(check, "check"));
            return this;
        }

        /** How often one dead letter may be reprocessed before it is treated as poison. Default 5. */
        public Builder maxReplays(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxReplays must be at least 1 but was " + value);
            }
            this.maxReplays = value;
            return this;
        }

        /**
         * How long a lane lease lasts on a journal several instances share (PostgreSQL); renewed every
         * quarter of it. A dead instance's lanes move after at most this long. Default 10 s.
         */
        public Builder leaseDuration(Duration value) {
            if (value == null || value.compareTo(Duration.ofMillis(200)) < 0) {
                throw new IllegalArgumentException("leaseDuration must be at least 200 ms but was " + value);
            }
            this.leaseDuration = value;
            return this;
        }

        /**
         * Event types kept in memory and never journaled, for high-volume telemetry: on a durable journal,
         * events whose type matches one of these patterns are delivered from memory, at most once (lost in a
         * crash), while every other type stays durable. Their dead letters are listed with the others but
         * kept in memory. A batch that mixes them with durable types is journaled whole. Has no effect on the
         * memory journal, where everything is.
         */
        public Builder atMostOnce(String... typePatterns) {
            for (String p : typePatterns) {
                atMostOnce.add(TypePattern.of(p));
            }
            return this;
        }

        /** A subscription to register at build time. */
        public Builder subscription(Subscription value) {
            subscriptions.add(Objects.requireNonNull(value, "subscription"));
            return this;
        }

        /**
         * Builds and opens the runtime (not yet delivering: call {@link Keel#start()} or
         * {@link Keel#process()}).
         *
         * @throws dev.keel.spi.JournalException when the journal cannot be opened
         */
        public Keel build() {
            if (payloadCompression != null && journal != null) {
                journal.compressPayloads(payloadCompression);
            }
            return new Keel(this);
        }
    }
}
