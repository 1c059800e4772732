package dev.keel;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Append;
import dev.keel.spi.Journal;
import dev.keel.spi.Journal.AppendResult;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
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
 *     keel.on("order.*", Order.class, d -> ship(d.data()));
 *     keel.start();
 *     keel.emit("order.created", order.id(), order).join();
 * }
 * }</pre>
 *
 * <p>Build one with {@link #builder()}; the instance is yours (there is no global runtime). Without
 * {@link #start()} nothing is delivered until you call {@link #process()}, which is handy in tests.
 * {@link #close()} stops intake and drains in-flight work up to a deadline.
 */
public final class Keel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Keel.class);
    private static final long IDLE_PARK_NANOS = Duration.ofMillis(200).toNanos();
    private static final Duration MAINTENANCE_INTERVAL = Duration.ofMillis(10);
    private static final Duration DEAD_LETTER_PURGE_INTERVAL = Duration.ofSeconds(1);
    /**
     * Idle workers first nap this long, up to {@link #NAPS} times, checking for work in between; producers do
     * not wake nappers. Only then do they sleep until signalled. Under load the next events arrive within
     * microseconds, and a nap nobody has to interrupt costs far less than a park and an unpark per emit.
     */
    private static final long NAP_NANOS = 20_000;

    private static final int NAPS = 3;

    /**
     * Napping pays only under load: a worker naps when the moving average of its pass sizes is at least this
     * many deliveries. Under light load it sleeps until signalled, which keeps latency low.
     */
    private static final int NAP_WHEN_BATCH = 8;

    private static final Duration WATCHDOG_TICK = Duration.ofMillis(5);

    private enum State {
        OPEN,
        CLOSING,
        CLOSED
    }

    private final Journal journal;
    private final MemoryJournal memory;
    private final int lanes;
    private final List<java.util.function.IntConsumer> appendWatches =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<java.util.function.IntToLongFunction> pruneHolds =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Clock clock;
    private final RandomGenerator random;
    private final Telemetry telemetry;
    private final PayloadCodec codec;
    private final String source;
    private final int batchSize;
    private final long maxPayloadBytes;
    private final int maxDepth;
    private final long highWaterMark;
    private final Duration emitWait;
    private final Duration dedupWindow;
    private final Duration retention;
    private final Duration deadLetterRetention;
    private final long alertThreshold;
    private final Consumer<DeadLetterAlert> alertCallback;
    private final int maxReplays;
    private final DeadLetters deadLetters;
    private final dev.keel.spi.LaneLeases leases;
    private final Duration leaseDuration;
    private final String instanceId = "keel-" + EventIds.next();
    private final ConcurrentHashMap<Integer, Long> ownedLanes = new ConcurrentHashMap<>();
    /** The stored pauses, as last read (every second, and at once after a local change). */
    private volatile java.util.Map<String, Instant> pauses = java.util.Map.of();

    private long lastPauseRead = System.nanoTime() - Duration.ofDays(1).toNanos();
    private static final Duration PAUSE_REFRESH = Duration.ofSeconds(1);
    /** Lanes being given back: no new deliveries, but their last commits still carry a valid fence. */
    private final java.util.Set<Integer> releasing = ConcurrentHashMap.newKeySet();

    private volatile long leaseValidUntil;
    private Thread leaseLoop;

    private final ThreadLocal<DeliveryScope> deliveryScope;
    private final List<TypePattern> atMostOnce;
    /** Delivers the at-most-once event types from memory when the journal is durable; null otherwise. */
    private final Keel twin;

    private final long nanoOrigin = System.nanoTime();
    /** Nanoseconds since the runtime was built, refreshed by the watchdog each tick: a clock read for free. */
    private volatile long coarseNanos = 1;

    private final ConcurrentHashMap<String, SubscriptionState> subscriptions = new ConcurrentHashMap<>();
    private volatile LaneWorker[][] byLane;
    private final LongAdder emitted = new LongAdder();
    private final java.util.concurrent.atomic.AtomicInteger appendsInFlight =
            new java.util.concurrent.atomic.AtomicInteger();
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final Object lifecycle = new Object();
    private volatile State state = State.OPEN;
    private volatile boolean started;
    private volatile boolean running;
    private Thread watchdog;
    private Thread maintenance;
    private ShutdownReport closeReport;
    private final java.util.concurrent.locks.ReentrantLock maintaining = new java.util.concurrent.locks.ReentrantLock();
    private long lastPrune = System.nanoTime() - Duration.ofDays(1).toNanos();
    private long lastPurge = System.nanoTime() - Duration.ofDays(1).toNanos();
    private final long pruneIntervalNanos;

    private Keel(Builder b) {
        this.deliveryScope = b.sharedScope != null ? b.sharedScope : ThreadLocal.withInitial(DeliveryScope::new);
        this.atMostOnce = List.copyOf(b.atMostOnce);
        this.journal = b.journal != null ? b.journal : new MemoryJournal(b.clock);
        this.memory = journal instanceof MemoryJournal m ? m : null;
        this.lanes = b.lanes;
        this.clock = b.clock;
        this.random = b.random;
        this.telemetry = new Telemetry(b.meterRegistry, b.openTelemetry);
        this.codec = new PayloadCodec(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper());
        this.source = b.source;
        this.batchSize = b.batchSize;
        this.maxPayloadBytes = b.maxPayloadBytes;
        this.maxDepth = b.maxDepth;
        this.highWaterMark = b.highWaterMark;
        this.emitWait = b.emitWait;
        this.dedupWindow = b.dedupWindow;
        this.retention = b.retention;
        this.deadLetterRetention = b.deadLetterRetention;
        this.alertThreshold = b.alertThreshold;
        this.alertCallback = b.alertCallback;
        this.maxReplays = b.maxReplays;
        this.byLane = new LaneWorker[lanes][0];
        this.deadLetters = new DeadLetters(this);
        this.pruneIntervalNanos = journal.pruneInterval().toNanos();
        this.leases = journal.leases().orElse(null);
        this.leaseDuration = b.leaseDuration;
        journal.open(lanes);
        this.twin =
                !atMostOnce.isEmpty() && memory == null ? b.twin(deliveryScope).build() : null;
        for (Subscription s : b.subscriptions) {
            subscribe(s);
        }
        watchdog = Thread.ofPlatform().daemon().name("keel-watchdog").start(this::watchdogLoop);
    }

    /** A builder with the defaults: memory journal, 8 lanes, system clock, no metrics or tracing wired. */
    public static Builder builder() {
        return new Builder();
    }

    // ---- subscriptions ----

    /**
     * Subscribes a handler to the types matching a pattern, with the default policy. The subscription is
     * named {@code on:<pattern>:<class>} (with a {@code #n} suffix when taken), stable across restarts as
     * long as handlers are registered in the same order.
     */
    public <T> Subscription on(String pattern, Class<T> type, Handler<T> handler) {
        String base = "on:" + pattern + ":" + type.getSimpleName();
        String name = base;
        for (int n = 2; subscriptions.containsKey(name); n++) {
            name = base + "#" + n;
        }
        return subscribe(
                Subscription.builder(name).types(pattern).handler(type, handler).build());
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
            if (subscriptions.containsKey(subscription.name())) {
                throw new SubscriptionException("a subscription named '" + subscription.name()
                        + "' exists already; names must be unique (they key the cursors)");
            }
            SubscriptionState s = new SubscriptionState(subscription, this, lanes);
            for (LaneWorker w : s.workers) {
                w.load();
            }
            if (!subscription.ephemeral()) {
                s.deadLetterCount.set(journal.countDeadLetters(subscription.name()));
            }
            subscriptions.put(subscription.name(), s);
            LaneWorker[][] next = new LaneWorker[lanes][];
            for (int i = 0; i < lanes; i++) {
                LaneWorker[] old = byLane[i];
                next[i] = java.util.Arrays.copyOf(old, old.length + 1);
                next[i][old.length] = s.workers[i];
            }
            byLane = next;
            if (started) {
                for (LaneWorker w : s.workers) {
                    startLoop(w);
                }
            }
        }
        if (twin != null) {
            twin.subscribe(subscription);
        }
        return subscription;
    }

    /** Removes a subscription; its stored cursors, pending entries and dead letters stay. */
    public boolean unsubscribe(String name) {
        if (twin != null) {
            twin.unsubscribe(name);
        }
        SubscriptionState s;
        synchronized (lifecycle) {
            s = subscriptions.remove(name);
            if (s == null) {
                return false;
            }
            LaneWorker[][] next = new LaneWorker[lanes][];
            for (int i = 0; i < lanes; i++) {
                List<LaneWorker> kept = new ArrayList<>();
                for (LaneWorker w : byLane[i]) {
                    if (w.sub != s) {
                        kept.add(w);
                    }
                }
                next[i] = kept.toArray(LaneWorker[]::new);
            }
            byLane = next;
        }
        for (LaneWorker w : s.workers) {
            Thread t = w.thread;
            if (t != null) {
                LockSupport.unpark(t);
            }
            Duration wait = s.subscription.policy().timeout() != null
                    ? s.subscription.policy().timeout().multipliedBy(2)
                    : Duration.ofSeconds(5);
            w.retire(wait);
        }
        for (Meter m : s.meters) {
            telemetry.registry.remove(m);
        }
        return true;
    }

    /** The registered subscriptions. */
    public List<Subscription> subscriptions() {
        return subscriptions.values().stream().map(s -> s.subscription).toList();
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
            reject("invalid");
            throw ex;
        }
        return emitOne(e, false);
    }

    /**
     * Emits events in order, all or nothing: if one is invalid none is stored. Same-key events keep the
     * list's order.
     */
    public CompletableFuture<List<Receipt>> emitBatch(List<? extends Event<?>> events) {
        ensureOpen();
        if (twin != null) {
            List<Event<?>> kept = new ArrayList<>();
            List<Event<?>> volatileOnes = new ArrayList<>();
            for (Event<?> e : events) {
                (isAtMostOnce(Objects.requireNonNull(e, "event in batch").type()) ? volatileOnes : kept).add(e);
            }
            if (!volatileOnes.isEmpty()) {
                if (kept.isEmpty()) {
                    return twin.emitBatch(volatileOnes);
                }
                CompletableFuture<List<Receipt>> durable = emitBatch(kept);
                CompletableFuture<List<Receipt>> inMemory = twin.emitBatch(volatileOnes);
                return durable.thenCombine(inMemory, (d, v) -> {
                    List<Receipt> all = new ArrayList<>(events.size());
                    int di = 0;
                    int vi = 0;
                    for (Event<?> e : events) {
                        all.add(isAtMostOnce(e.type()) ? v.get(vi++) : d.get(di++));
                    }
                    return all;
                });
            }
        }
        List<Event<?>> prepared = new ArrayList<>(events.size());
        for (Event<?> e : events) {
            prepared.add(prepare(Objects.requireNonNull(e, "event in batch")));
        }
        for (Event<?> e : prepared) {
            awaitRoom(Lanes.of(e.orderingKey(), lanes));
        }
        List<Append> appends = new ArrayList<>(prepared.size());
        List<Span> spans = new ArrayList<>();
        for (Event<?> p : prepared) {
            Event<?> ready = p;
            Span span = telemetry.startProducer(ready.type());
            if (span != null) {
                ready = ready.toBuilder()
                        .traceparent(Telemetry.traceparent(span))
                        .build();
                spans.add(span);
            }
            appends.add(append(ready, true));
        }
        return tracked(journal.append(appends))
                .whenComplete((r, err) -> spans.forEach(Span::end))
                .thenApply(results -> {
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
        if (twin != null && isAtMostOnce(event.type())) {
            return twin.emitOne(event, producerIdentified);
        }
        Event<?> ready = prepare(event);
        awaitRoom(Lanes.of(ready.orderingKey(), lanes));
        Span span = telemetry.startProducer(ready.type());
        if (span != null) {
            ready = ready.toBuilder().traceparent(Telemetry.traceparent(span)).build();
        }
        Append a = append(ready, producerIdentified);
        if (memory != null) {
            try {
                if (a.dedupKey() == null) {
                    long seq = memory.appendUnique(a.lane(), ready);
                    emitted.increment();
                    if (telemetry.metering()) {
                        telemetry.emitted(ready.type());
                    }
                    signal(a.lane());
                    return CompletableFuture.completedFuture(new Receipt(ready.id(), a.lane(), seq, false));
                }
                return CompletableFuture.completedFuture(accepted(ready, memory.appendOne(a)));
            } finally {
                if (span != null) {
                    span.end();
                }
            }
        }
        Event<?> stored = ready;
        return tracked(journal.append(List.of(a)))
                .whenComplete((r, err) -> {
                    if (span != null) {
                        span.end();
                    }
                    if (err != null) {
                        reject("journal");
                    }
                })
                .thenApply(results -> accepted(stored, results.getFirst()));
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
        }
        return new Receipt(r.eventId(), r.lane(), r.sequence(), r.duplicate());
    }

    /** Adds causation from the delivery being handled on this thread and checks the limits. */
    private Event<?> prepare(Event<?> e) {
        Delivery<?> cause = deliveryScope.get().current;
        if (cause != null && e.causationId() == null) {
            Event<?> c = cause.event();
            int depth = c.depth() + 1;
            if (depth > maxDepth) {
                reject("loop");
                throw new LoopDetectedException(e.type(), depth, maxDepth, c.id());
            }
            e = e.toBuilder()
                    .causationId(c.id())
                    .correlationId(
                            e.correlationId() != null
                                    ? e.correlationId()
                                    : c.correlationId() != null ? c.correlationId() : c.id())
                    .tenant(e.tenant() != null ? e.tenant() : c.tenant())
                    .depth(depth)
                    .build();
        } else if (e.depth() > maxDepth) {
            reject("loop");
            throw new LoopDetectedException(e.type(), e.depth(), maxDepth, e.causationId());
        }
        if (maxPayloadBytes > 0 && e.data() != null) {
            long size = codec.sizeOf(e.data(), maxPayloadBytes);
            if (size > maxPayloadBytes) {
                reject("payload_too_large");
                throw new PayloadTooLargeException(e.type(), size, maxPayloadBytes);
            }
        }
        return e;
    }

    private Append append(Event<?> e, boolean producerIdentified) {
        int lane = Lanes.of(e.orderingKey(), lanes);
        // Within a tenant: one tenant's keys never make another's events duplicates.
        // Length-prefixed, so no tenant and key can spell another pair (and no byte a database refuses).
        // "-" without one: after "k:" or "s:", a digit means a tenant follows, a dash that none does.
        String tenant = e.tenant() == null ? "-:" : e.tenant().length() + ":" + e.tenant() + ":";
        String dedupKey = e.idempotencyKey() != null
                ? "k:" + tenant + e.idempotencyKey()
                : producerIdentified ? "s:" + tenant + e.source() + " " + e.id() : null;
        return new Append(
                lane, e, dedupKey, dedupKey == null ? null : clock.instant().plus(dedupWindow));
    }

    /** Backpressure: waits while the lane holds more undelivered events than the high-water mark. */
    private void awaitRoom(int lane) {
        if (highWaterMark <= 0 || deliveryScope.get().current != null) {
            // Emits from handlers are bounded by the causation depth; holding them could wait on themselves.
            return;
        }
        long backlog = backlog(lane);
        if (backlog < highWaterMark) {
            return;
        }
        long start = System.nanoTime();
        long deadline = start + emitWait.toNanos();
        while (backlog >= highWaterMark) {
            if (System.nanoTime() - deadline >= 0) {
                reject("intake_full");
                throw new IntakeFullException(
                        lane, backlog, highWaterMark, Duration.ofNanos(System.nanoTime() - start));
            }
            ensureOpen();
            wakeWorkers(lane);
            LockSupport.parkNanos(50_000);
            backlog = backlog(lane);
        }
    }

    private long backlog(int lane) {
        LaneWorker[] workers = byLane[lane];
        if (workers.length == 0) {
            return 0;
        }
        long min = Long.MAX_VALUE;
        for (LaneWorker w : workers) {
            min = Math.min(min, w.cursor);
        }
        return journal.head(lane) - min;
    }

    /** After an append to the lane is stored: wakes its workers, and tells the append watches. */
    private void signal(int lane) {
        wakeWorkers(lane);
        for (java.util.function.IntConsumer watch : appendWatches) {
            try {
                watch.accept(lane);
            } catch (RuntimeException e) {
                log.warn("an append watch failed; the append itself is stored", e);
            }
        }
    }

    private void wakeWorkers(int lane) {
        for (LaneWorker w : byLane[lane]) {
            if (w.sleeping) {
                LockSupport.unpark(w.thread);
            }
        }
    }

    private void reject(String reason) {
        rejected.increment();
        telemetry.rejected(reason);
    }

    private void ensureOpen() {
        if (state != State.OPEN) {
            reject("closed");
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
            awaitAppends();
            round = processHere() + (twin != null ? twin.processHere() : 0);
            total += round;
        } while (round > 0 || appendsInFlight.get() > 0);
        return total;
    }

    private void awaitAppends() {
        while (appendsInFlight.get() > 0) {
            LockSupport.parkNanos(100_000);
        }
    }

    /** Counts an append the journal completes later, for {@link #process()}. */
    private <T> CompletableFuture<T> tracked(CompletableFuture<T> append) {
        appendsInFlight.incrementAndGet();
        return append.whenComplete((r, e) -> appendsInFlight.decrementAndGet());
    }

    private int processHere() {
        int total = 0;
        boolean progress;
        do {
            progress = false;
            for (SubscriptionState s : subscriptions.values()) {
                for (LaneWorker w : s.workers) {
                    int work = w.runOnce();
                    total += work;
                    progress |= work > 0;
                }
            }
        } while (progress);
        maintain();
        return total;
    }

    /** Starts continuous delivery on virtual threads (one per subscription and lane). Idempotent. */
    public Keel start() {
        synchronized (lifecycle) {
            ensureOpen();
            if (started) {
                return this;
            }
            running = true;
            started = true;
            if (twin != null) {
                twin.start();
            }
            if (leases != null) {
                renewLeases();
                leaseLoop = Thread.ofVirtual().name("keel-leases").start(this::leaseLoop);
            }
            for (SubscriptionState s : subscriptions.values()) {
                for (LaneWorker w : s.workers) {
                    startLoop(w);
                }
            }
            maintenance = Thread.ofVirtual().name("keel-maintenance").start(this::maintenanceLoop);
        }
        return this;
    }

    private boolean isAtMostOnce(String type) {
        for (TypePattern p : atMostOnce) {
            if (p.matches(type)) {
                return true;
            }
        }
        return false;
    }

    /** Whether lanes are leased: a started runtime on a journal several instances share. */
    boolean leasing() {
        return leases != null && started;
    }

    /** Whether this instance may deliver the lane now. */
    boolean holdsLane(int lane) {
        if (!leasing()) {
            return true;
        }
        return ownedLanes.containsKey(lane) && !releasing.contains(lane) && System.nanoTime() - leaseValidUntil < 0;
    }

    /** The fencing token to commit with for the lane. */
    long fenceFor(int lane) {
        if (!leasing()) {
            return dev.keel.spi.Commit.NO_FENCE;
        }
        Long token = ownedLanes.get(lane);
        return token == null ? Long.MIN_VALUE : token;
    }

    /** This runtime's name among the instances sharing its journal. */
    public String instanceId() {
        return instanceId;
    }

    /** The lanes this instance delivers now (all of them unless the journal is shared and leased). */
    public java.util.Set<Integer> heldLanes() {
        if (!leasing()) {
            java.util.Set<Integer> all = new java.util.TreeSet<>();
            for (int i = 0; i < lanes; i++) {
                all.add(i);
            }
            return all;
        }
        java.util.Set<Integer> held = new java.util.TreeSet<>();
        for (Integer lane : ownedLanes.keySet()) {
            if (holdsLane(lane)) {
                held.add(lane);
            }
        }
        return held;
    }

    private void leaseLoop() {
        long every = Math.max(Duration.ofMillis(20).toNanos(), leaseDuration.toNanos() / 4);
        while (running) {
            LockSupport.parkNanos(every);
            if (!running) {
                return;
            }
            try {
                renewLeases();
            } catch (RuntimeException e) {
                log.warn("could not renew lane leases ({}); delivery stops when they lapse", e.toString());
            }
        }
    }

    /** Heartbeat: renew, take what is granted, drop what is lost, give back what is over the fair share. */
    private synchronized void renewLeases() {
        long sent = System.nanoTime();
        dev.keel.spi.LaneLeases.Held held = leases.heartbeat(instanceId, leaseDuration);
        // The database set the expiry after this instant; stopping at 3/4 of the lease keeps a margin.
        leaseValidUntil = sent + leaseDuration.toNanos() / 4 * 3;
        for (Integer lane : List.copyOf(ownedLanes.keySet())) {
            if (!held.lanes().containsKey(lane)) {
                ownedLanes.remove(lane);
                forEachWorker(lane, LaneWorker::leaseChanged);
            }
        }
        held.lanes().forEach((lane, token) -> {
            Long before = ownedLanes.put(lane, token);
            if (before == null || !before.equals(token)) {
                forEachWorker(lane, w -> {
                    w.leaseChanged();
                    wake(w);
                });
            }
        });
        int extra = ownedLanes.size() - held.fairShare();
        if (extra > 0) {
            List<Integer> give =
                    new ArrayList<>(new java.util.TreeSet<>(ownedLanes.keySet()).descendingSet()).subList(0, extra);
            releasing.addAll(give);
            for (Integer lane : give) {
                forEachWorker(lane, w -> {
                    w.leaseChanged();
                    w.awaitIdle(Duration.ofSeconds(5));
                });
            }
            leases.release(instanceId, give);
            give.forEach(ownedLanes::remove);
            releasing.removeAll(give);
        }
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
        if (!subscriptions.containsKey(subscription)) {
            throw new SubscriptionException("no subscription named '" + subscription + "' to pause");
        }
        if (duration == null || duration.isNegative() || duration.isZero()) {
            throw new IllegalArgumentException("pause duration must be positive but was " + duration);
        }
        journal.pause(SUBSCRIPTION_PAUSE + subscription, clock.instant().plus(duration));
        refreshPauses(true);
    }

    /** Ends a pause made by {@link #pause(String, Duration)} on every instance. */
    public void resume(String subscription) {
        journal.pause(SUBSCRIPTION_PAUSE + subscription, null);
        refreshPauses(true);
    }

    /** Until when a subscription is paused (by an operator or by an open circuit), or null. */
    public Instant pausedUntil(String subscription) {
        refreshPauses(false);
        SubscriptionState s = subscriptions.get(subscription);
        Instant until = pauses.get(SUBSCRIPTION_PAUSE + subscription);
        if (s != null) {
            for (String breaker : s.breakers) {
                Instant open = pauses.get(CIRCUIT_PAUSE + breaker);
                if (open != null && (until == null || open.isAfter(until))) {
                    until = open;
                }
            }
        }
        return until;
    }

    /** Whether a subscription may not deliver now, by a stored pause. */
    boolean pausedByStore(SubscriptionState s) {
        java.util.Map<String, Instant> current = pauses;
        if (current.isEmpty()) {
            return false;
        }
        Instant now = clock.instant();
        Instant until = current.get(SUBSCRIPTION_PAUSE + s.name);
        if (until != null && until.isAfter(now)) {
            return true;
        }
        for (String breaker : s.breakers) {
            Instant open = current.get(CIRCUIT_PAUSE + breaker);
            if (open != null && open.isAfter(now)) {
                return true;
            }
        }
        return false;
    }

    /** A breaker opened here: every instance pauses its subscriptions until its open period ends. */
    void circuitOpened(String breaker, Duration openFor) {
        try {
            journal.pause(CIRCUIT_PAUSE + breaker, clock.instant().plus(openFor));
            refreshPauses(true);
        } catch (RuntimeException e) {
            log.warn("could not share that circuit '{}' opened: {}", breaker, e.toString());
        }
    }

    /** A breaker closed here: the shared pause ends. */
    void circuitClosed(String breaker) {
        try {
            journal.pause(CIRCUIT_PAUSE + breaker, null);
            refreshPauses(true);
        } catch (RuntimeException e) {
            log.warn("could not share that circuit '{}' closed: {}", breaker, e.toString());
        }
    }

    private void refreshPauses(boolean now) {
        long t = System.nanoTime();
        if (!now && t - lastPauseRead < PAUSE_REFRESH.toNanos()) {
            return;
        }
        lastPauseRead = t;
        try {
            pauses = java.util.Map.copyOf(journal.pauses(clock.instant()));
        } catch (RuntimeException e) {
            log.warn("could not read the stored pauses ({}); using the last ones read", e.toString());
        }
    }

    static final String SUBSCRIPTION_PAUSE = "subscription:";
    static final String CIRCUIT_PAUSE = "circuit:";

    private void forEachWorker(int lane, Consumer<LaneWorker> action) {
        for (LaneWorker w : byLane[lane]) {
            action.accept(w);
        }
    }

    boolean isStarted() {
        return started && running;
    }

    /** True once a started runtime is closing: passes stop between deliveries. */
    boolean isStopping() {
        return started && !running;
    }

    void restart(LaneWorker w) {
        if (isStarted() && subscriptions.get(w.sub.name) == w.sub) {
            startLoop(w);
        }
    }

    private void startLoop(LaneWorker w) {
        int gen = w.generation();
        Thread t = Thread.ofVirtual().name("keel-" + w.sub.name + "-" + w.lane).unstarted(() -> loop(w, gen));
        w.thread = t;
        t.start();
    }

    private void loop(LaneWorker w, int gen) {
        double load = 0;
        while (running && w.generation() == gen && subscriptions.get(w.sub.name) == w.sub) {
            try {
                int done = w.runOnce();
                if (done > 0) {
                    load = load * 0.75 + done * 0.25;
                    continue;
                }
                if (w.generation() != gen) {
                    return;
                }
                boolean work = false;
                int naps = load >= NAP_WHEN_BATCH ? NAPS : 0;
                for (int nap = 0; nap < naps && !work && running; nap++) {
                    LockSupport.parkNanos(Math.min(NAP_NANOS, Math.max(1, w.waitNanos(NAP_NANOS))));
                    work = w.hasWork();
                }
                if (work) {
                    continue;
                }
                w.sleeping = true;
                try {
                    if (running && !w.hasWork()) {
                        LockSupport.parkNanos(w.waitNanos(IDLE_PARK_NANOS));
                    }
                } finally {
                    w.sleeping = false;
                }
            } catch (VirtualMachineError e) {
                throw e;
            } catch (Throwable t) {
                log.error("subscription '{}' lane {}: delivery loop failed; retrying in 1 s", w.sub.name, w.lane, t);
                LockSupport.parkNanos(Duration.ofSeconds(1).toNanos());
            }
        }
    }

    private void watchdogLoop() {
        while (state == State.OPEN || running) {
            LockSupport.parkNanos(WATCHDOG_TICK.toNanos());
            long now = System.nanoTime() - nanoOrigin + 1;
            coarseNanos = now;
            telemetry.refresh();
            for (SubscriptionState s : subscriptions.values()) {
                if (s.subscription.policy().timeout() == null) {
                    continue;
                }
                for (LaneWorker w : s.workers) {
                    try {
                        w.watch(now);
                    } catch (RuntimeException e) {
                        log.error("watchdog failed on subscription '{}' lane {}", s.name, w.lane, e);
                    }
                }
            }
        }
    }

    private void maintenanceLoop() {
        while (running) {
            LockSupport.parkNanos(MAINTENANCE_INTERVAL.toNanos());
            if (!running) {
                return;
            }
            try {
                maintain();
            } catch (RuntimeException e) {
                log.warn("maintenance failed; trying again in {} ms", MAINTENANCE_INTERVAL.toMillis(), e);
            }
        }
    }

    /** Prunes what every subscription has passed, purges old dead letters, expires dedup records. */
    private void maintain() {
        if (state == State.CLOSED || !maintaining.tryLock()) {
            return;
        }
        try {
            refreshPauses(false);
            long nowNanos = System.nanoTime();
            Instant now = clock.instant();
            if (nowNanos - lastPrune >= pruneIntervalNanos) {
                lastPrune = nowNanos;
                Instant appendedBefore = now.minus(retention);
                for (int lane = 0; lane < lanes; lane++) {
                    long passed = journal.head(lane);
                    for (LaneWorker w : byLane[lane]) {
                        passed = Math.min(passed, w.prunePoint());
                    }
                    for (java.util.function.IntToLongFunction hold : pruneHolds) {
                        passed = Math.min(passed, hold.applyAsLong(lane));
                    }
                    journal.prune(lane, passed, appendedBefore, now);
                }
            }
            if (deadLetterRetention != null && nowNanos - lastPurge >= DEAD_LETTER_PURGE_INTERVAL.toNanos()) {
                lastPurge = nowNanos;
                if (journal.purgeDeadLetters(now.minus(deadLetterRetention)) > 0) {
                    refreshDeadLetterCounts();
                }
            }
        } finally {
            maintaining.unlock();
        }
    }

    void onDeadLetterChange(SubscriptionState s) {
        long count = journal.countDeadLetters(s.name);
        s.deadLetterCount.set(count);
        checkAlert(s, count);
    }

    void refreshDeadLetterCounts() {
        for (SubscriptionState s : subscriptions.values()) {
            if (!s.subscription.ephemeral()) {
                long count = journal.countDeadLetters(s.name);
                s.deadLetterCount.set(count);
                checkAlert(s, count);
            }
        }
    }

    private void checkAlert(SubscriptionState s, long count) {
        if (alertCallback == null) {
            return;
        }
        if (count >= alertThreshold && !s.alerted) {
            s.alerted = true;
            try {
                alertCallback.accept(new DeadLetterAlert(s.name, count, alertThreshold));
            } catch (RuntimeException e) {
                log.warn("dead letter alert callback failed for subscription '{}'", s.name, e);
            }
        } else if (count < alertThreshold) {
            s.alerted = false;
        }
    }

    // ---- admin, stats, close ----

    /** Listing, inspecting, reprocessing and purging dead letters. */
    public DeadLetters deadLetters() {
        return deadLetters;
    }

    /** A snapshot of the counters. */
    public KeelStats stats() {
        List<SubscriptionStats> subs = new ArrayList<>();
        for (SubscriptionState s : subscriptions.values()) {
            subs.add(new SubscriptionStats(
                    s.name,
                    s.delivered(),
                    s.failedAttempts.sum(),
                    s.retriesScheduled.sum(),
                    s.deadLettered.sum(),
                    s.deadLetterCount.get(),
                    s.pendingCount(false),
                    s.pendingCount(true),
                    s.lag(),
                    s.pauses.sum(),
                    s.lagByLane()));
        }
        subs.sort(java.util.Comparator.comparing(SubscriptionStats::name));
        KeelStats own = new KeelStats(emitted.sum(), duplicates.sum(), rejected.sum(), lanes, subs);
        return twin == null ? own : merge(own, twin.stats());
    }

    private static List<Long> sum(List<Long> a, List<Long> b) {
        List<Long> out = new ArrayList<>(Math.max(a.size(), b.size()));
        for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
            out.add((i < a.size() ? a.get(i) : 0L) + (i < b.size() ? b.get(i) : 0L));
        }
        return out;
    }

    private static KeelStats merge(KeelStats a, KeelStats b) {
        java.util.Map<String, SubscriptionStats> byName = new java.util.TreeMap<>();
        for (SubscriptionStats s : a.subscriptions()) {
            byName.put(s.name(), s);
        }
        for (SubscriptionStats s : b.subscriptions()) {
            byName.merge(
                    s.name(),
                    s,
                    (x, y) -> new SubscriptionStats(
                            x.name(),
                            x.delivered() + y.delivered(),
                            x.failedAttempts() + y.failedAttempts(),
                            x.retriesScheduled() + y.retriesScheduled(),
                            x.deadLettered() + y.deadLettered(),
                            x.deadLetters(),
                            x.pendingDue() + y.pendingDue(),
                            x.parked() + y.parked(),
                            x.lag() + y.lag(),
                            x.pauses() + y.pauses(),
                            sum(x.lagByLane(), y.lagByLane())));
        }
        return new KeelStats(
                a.emitted() + b.emitted(),
                a.duplicates() + b.duplicates(),
                a.rejected() + b.rejected(),
                a.lanes(),
                List.copyOf(byName.values()));
    }

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
        if (twin != null) {
            // First, so that its handlers can still emit durable events while it drains.
            ShutdownReport inMemory = twin.close(deadline);
            ShutdownReport durable = closeHere(deadline);
            return new ShutdownReport(
                    inMemory.drained() && durable.drained(),
                    inMemory.took().plus(durable.took()),
                    inMemory.undelivered() + durable.undelivered(),
                    inMemory.pending() + durable.pending(),
                    inMemory.parked() + durable.parked(),
                    inMemory.interrupted() + durable.interrupted());
        }
        return closeHere(deadline);
    }

    private ShutdownReport closeHere(Duration deadline) {
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
        for (SubscriptionState s : subscriptions.values()) {
            for (LaneWorker w : s.workers) {
                Thread t = w.thread;
                if (t != null) {
                    if (w.inFlight()) {
                        t.interrupt();
                        interrupted++;
                    } else {
                        LockSupport.unpark(t);
                    }
                    threads.add(t);
                }
            }
        }
        if (watchdog != null) {
            watchdog.interrupt();
            threads.add(watchdog);
        }
        if (maintenance != null) {
            LockSupport.unpark(maintenance);
            threads.add(maintenance);
        }
        if (leaseLoop != null) {
            LockSupport.unpark(leaseLoop);
            threads.add(leaseLoop);
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
            if (t.isAlive() && t != watchdog && t != maintenance) {
                log.warn(
                        "delivery thread {} did not stop within 1 s of the close deadline; its last outcomes may be redelivered",
                        t);
            }
        }
        long undelivered = 0;
        long pending = 0;
        long parked = 0;
        for (SubscriptionState s : subscriptions.values()) {
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
        if (leases != null && started && !ownedLanes.isEmpty()) {
            try {
                // Hand the lanes over now instead of letting the others wait for the leases to expire.
                leases.release(instanceId, List.copyOf(ownedLanes.keySet()));
            } catch (RuntimeException e) {
                log.warn("could not release lane leases on close; they expire in {}", leaseDuration, e);
            }
            ownedLanes.clear();
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
            for (SubscriptionState s : subscriptions.values()) {
                for (LaneWorker w : s.workers) {
                    if (!w.isDrained()) {
                        all = false;
                        if (w.sleeping) {
                            LockSupport.unpark(w.thread);
                        }
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

    /**
     * The journal this runtime stores in, for tools that read the log directly (the server's event streams
     * tail it). Write through the runtime, never here.
     */
    public Journal journal() {
        return journal;
    }

    /** The number of lanes the log is split into. */
    public int lanes() {
        return lanes;
    }

    /**
     * Keeps this process from pruning what a reader of the log has not read yet: until the hold is closed, no
     * event of a lane past {@code readTo.applyAsLong(lane)} (the last sequence the reader is done with) is
     * pruned. For readers that tail {@link #journal()} themselves, such as the server's event streams. Other
     * instances sharing the journal do not see the hold; their retention must cover such readers.
     */
    public Hold holdPruning(java.util.function.IntToLongFunction readTo) {
        Objects.requireNonNull(readTo, "readTo");
        pruneHolds.add(readTo);
        return () -> pruneHolds.remove(readTo);
    }

    /**
     * Calls {@code appended} with the lane's number for each event this runtime stores (not for one refused
     * as a duplicate), once the journal has it, on the thread that completes the append: with a JDBC
     * journal, the writer every append waits for. So it must return at once (waking a reader of the log,
     * say). One that throws is logged; the event stays stored. Appends by other instances sharing the journal
     * are not seen: readers that need them poll as well. A call already under way when the watch is closed
     * may still arrive.
     */
    public Watch watchAppends(java.util.function.IntConsumer appended) {
        Objects.requireNonNull(appended, "appended");
        appendWatches.add(appended);
        return () -> appendWatches.remove(appended);
    }

    /**
     * The lanes whose delivery in flight has run longer than {@code threshold}: a handler that does not return
     * (one with a timeout is interrupted, and taken over at twice it, so this finds mostly handlers without
     * one). For health checks.
     */
    public List<StuckLane> stuckLanes(Duration threshold) {
        long now = coarseNanos();
        List<StuckLane> out = new ArrayList<>();
        for (SubscriptionState s : subscriptions.values()) {
            for (LaneWorker w : s.workers) {
                long running = w.deliveringFor(now);
                if (running > threshold.toNanos()) {
                    out.add(new StuckLane(s.name, w.lane, Duration.ofNanos(running)));
                }
            }
        }
        return out;
    }

    /**
     * A lane whose delivery has run too long.
     *
     * @param subscription the subscription
     * @param lane the lane
     * @param running how long the delivery in flight has run
     */
    public record StuckLane(String subscription, int lane, Duration running) {}

    /** A hold on pruning; closing it releases it. */
    @FunctionalInterface
    public interface Hold extends AutoCloseable {
        @Override
        void close();
    }

    /** A watch on appends; closing it ends it. */
    @FunctionalInterface
    public interface Watch extends AutoCloseable {
        @Override
        void close();
    }

    // ---- for the package ----

    Clock clock() {
        return clock;
    }

    RandomGenerator random() {
        return random;
    }

    Telemetry telemetry() {
        return telemetry;
    }

    PayloadCodec codec() {
        return codec;
    }

    int batchSize() {
        return batchSize;
    }

    int maxReplays() {
        return maxReplays;
    }

    SubscriptionState subscriptionState(String name) {
        return subscriptions.get(name);
    }

    DeliveryScope deliveryScope() {
        return deliveryScope.get();
    }

    /** Nanoseconds since the runtime was built, at the watchdog's resolution. */
    long coarseNanos() {
        return coarseNanos;
    }

    void wake(LaneWorker w) {
        Thread t = w.thread;
        if (t != null) {
            LockSupport.unpark(t);
        }
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

        private Journal journal;
        private int lanes = DEFAULT_LANES;
        private Clock clock = Clock.systemUTC();
        private RandomGenerator random = RandomGenerator.getDefault();
        private MeterRegistry meterRegistry = new CompositeMeterRegistry();
        private OpenTelemetry openTelemetry;
        private ObjectMapper objectMapper;
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
        private Consumer<DeadLetterAlert> alertCallback;
        private int maxReplays = DEFAULT_MAX_REPLAYS;
        private Duration leaseDuration = DEFAULT_LEASE_DURATION;
        private final List<TypePattern> atMostOnce = new ArrayList<>();
        private ThreadLocal<DeliveryScope> sharedScope;
        private final List<Subscription> subscriptions = new ArrayList<>();

        private Builder() {}

        /** The storage engine; the runtime opens and closes it. Default: a new {@link MemoryJournal}. */
        public Builder journal(Journal value) {
            this.journal = Objects.requireNonNull(value, "journal");
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
         * crash), while every other type stays durable. Their dead letters stay in memory too and are not
         * listed by {@link Keel#deadLetters()}. Has no effect on the memory journal, where everything is.
         */
        public Builder atMostOnce(String... typePatterns) {
            for (String p : typePatterns) {
                atMostOnce.add(TypePattern.of(p));
            }
            return this;
        }

        /** The in-memory twin of a durable runtime: same settings, memory journal, shared causation. */
        Builder twin(ThreadLocal<DeliveryScope> scope) {
            Builder t = new Builder();
            t.journal = new MemoryJournal(clock);
            t.lanes = lanes;
            t.clock = clock;
            t.random = random;
            t.meterRegistry = meterRegistry;
            t.openTelemetry = openTelemetry;
            t.objectMapper = objectMapper;
            t.source = source;
            t.batchSize = batchSize;
            t.maxPayloadBytes = maxPayloadBytes;
            t.maxDepth = maxDepth;
            t.highWaterMark = highWaterMark;
            t.emitWait = emitWait;
            t.dedupWindow = dedupWindow;
            t.retention = retention;
            t.deadLetterRetention = deadLetterRetention;
            t.alertThreshold = alertThreshold;
            t.alertCallback = alertCallback;
            t.maxReplays = maxReplays;
            t.sharedScope = scope;
            return t;
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
            return new Keel(this);
        }
    }
}
