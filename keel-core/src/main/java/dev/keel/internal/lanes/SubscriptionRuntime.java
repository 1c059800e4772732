package dev.keel.internal.lanes;

import dev.keel.Delivery;
import dev.keel.Handler;
import dev.keel.KeelMeter;
import dev.keel.Middleware;
import dev.keel.Subscription;
import dev.keel.middleware.CircuitBreakerMiddleware;
import dev.keel.spi.Tally;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A registered subscription: its compiled middleware chain, one {@link LaneWorker} per lane, and what it has
 * counted. The counters are added to by the lanes' runners and read by anyone; the totals start from what
 * the journal had committed when the subscription was registered, so they survive restarts and replacement.
 */
public final class SubscriptionRuntime {
    private static final String[] OUTCOMES = {"success", "retry", "dead_letter", "paused"};

    final Subscription subscription;
    final String name;
    final Middleware.Chain chain;
    final List<String> breakers;
    private final LaneWorker[] workers;
    private final Tally baseline;

    final LongAdder failedAttempts = new LongAdder();
    final LongAdder retriesScheduled = new LongAdder();
    final LongAdder deadLettered = new LongAdder();
    final LongAdder pauses = new LongAdder();
    private final AtomicLong deadLetterCount = new AtomicLong();
    private final java.util.concurrent.locks.ReentrantLock recountLock = new java.util.concurrent.locks.ReentrantLock();

    /** Whether the alert for the dead letters is raised; guarded by this object's monitor. */
    private boolean alerted;

    private final LaneContext context;
    private final List<Meter> meters = new CopyOnWriteArrayList<>();
    private final Counter timeoutWarnings;
    final Counter timeouts;
    final Counter graceRecoveries;
    final Counter cancellations;
    private final ConcurrentHashMap<String, TypeMeters> typeMeters = new ConcurrentHashMap<>();

    /** The meters of one event type: a counter per outcome and the handler timer. */
    record TypeMeters(String type, Counter[] counters, Timer timer) {}

    /**
     * @param baseline what the journal counted for this name before (zero for a subscription new to it)
     */
    public SubscriptionRuntime(Subscription subscription, LaneContext context, int lanes, Tally baseline) {
        this.subscription = subscription;
        this.name = subscription.name();
        this.context = context;
        this.baseline = baseline;
        this.chain = compile(subscription);
        List<String> names = new ArrayList<>();
        for (Middleware m : subscription.middleware()) {
            if (m instanceof CircuitBreakerMiddleware cb) {
                names.add(cb.breaker().getName());
            }
        }
        this.breakers = List.copyOf(names);
        this.workers = new LaneWorker[lanes];
        for (int i = 0; i < lanes; i++) {
            workers[i] = new LaneWorker(context, this, i);
        }
        var registry = context.telemetry().registry();
        this.timeoutWarnings = context.telemetry().timeoutWarnings(name);
        meters.add(timeoutWarnings);
        this.timeouts = context.telemetry().subscriptionCounter(KeelMeter.TIMEOUTS, name);
        this.graceRecoveries = context.telemetry().subscriptionCounter(KeelMeter.GRACE_RECOVERIES, name);
        this.cancellations = context.telemetry().subscriptionCounter(KeelMeter.CANCELLATIONS, name);
        meters.addAll(List.of(timeouts, graceRecoveries, cancellations));
        for (LaneWorker w : workers) {
            meters.add(Gauge.builder(KeelMeter.LANE_LAG.meterName(), w, LaneWorker::lag)
                    .description(KeelMeter.LANE_LAG.description())
                    .tag("subscription", name)
                    .tag("lane", Integer.toString(w.lane()))
                    .register(registry));
        }
        meters.add(Gauge.builder(KeelMeter.PENDING.meterName(), this, s -> s.pendingCount(false))
                .description(KeelMeter.PENDING.description())
                .tag("subscription", name)
                .tag("state", "due")
                .register(registry));
        meters.add(Gauge.builder(KeelMeter.PENDING.meterName(), this, s -> s.pendingCount(true))
                .description(KeelMeter.PENDING.description())
                .tag("subscription", name)
                .tag("state", "parked")
                .register(registry));
        meters.add(Gauge.builder(KeelMeter.DEAD_LETTERS.meterName(), deadLetterCount, AtomicLong::get)
                .description(KeelMeter.DEAD_LETTERS.description())
                .tag("subscription", name)
                .register(registry));
        for (Middleware m : subscription.middleware()) {
            if (m instanceof CircuitBreakerMiddleware cb) {
                meters.add(
                        Gauge.builder(KeelMeter.CIRCUIT_STATE.meterName(), cb.breaker(), SubscriptionRuntime::stateCode)
                                .description(KeelMeter.CIRCUIT_STATE.description())
                                .tag("subscription", name)
                                .tag("breaker", cb.breaker().getName())
                                .register(registry));
            }
        }
    }

    public Subscription subscription() {
        return subscription;
    }

    public String name() {
        return name;
    }

    /** The worker of a lane. */
    public LaneWorker worker(int lane) {
        return workers[lane];
    }

    /** The workers, one per lane. */
    public List<LaneWorker> workers() {
        return List.of(workers);
    }

    /** The names of the circuit breakers among its middleware. */
    public List<String> breakers() {
        return breakers;
    }

    TypeMeters meters(String type) {
        TypeMeters m = typeMeters.get(type);
        if (m == null) {
            m = typeMeters.computeIfAbsent(type, t -> {
                Counter[] made = new Counter[OUTCOMES.length];
                for (int i = 0; i < made.length; i++) {
                    made[i] = context.telemetry().delivery(name, t, OUTCOMES[i]);
                }
                TypeMeters tm = new TypeMeters(t, made, context.telemetry().duration(name, t));
                meters.add(tm.timer());
                meters.addAll(List.of(made));
                return tm;
            });
        }
        return m;
    }

    Counter timeoutWarnings() {
        return timeoutWarnings;
    }

    static double stateCode(CircuitBreaker breaker) {
        return switch (breaker.getState()) {
            case CLOSED -> 0;
            case OPEN, FORCED_OPEN -> 1;
            case HALF_OPEN -> 2;
            default -> 3;
        };
    }

    /** Entries waiting for their time ({@code parked == false}) or parked behind one, over all lanes. */
    public long pendingCount(boolean parked) {
        long n = 0;
        for (LaneWorker w : workers) {
            n += parked ? w.parkedCount() : w.dueCount();
        }
        return n;
    }

    /** What has been counted: the committed totals it started from plus what this process counted since. */
    public Tally totals() {
        long delivered = 0;
        for (LaneWorker w : workers) {
            delivered += w.delivered();
        }
        return baseline.plus(new Tally(delivered, failedAttempts.sum(), retriesScheduled.sum(), deadLettered.sum()));
    }

    /** Times a lane of it paused (an open circuit, a full bulkhead, a stream without demand). */
    public long pauses() {
        return pauses.sum();
    }

    public long lag() {
        long n = 0;
        for (LaneWorker w : workers) {
            n += w.lag();
        }
        return n;
    }

    public List<Long> lagByLane() {
        List<Long> out = new ArrayList<>(workers.length);
        for (LaneWorker w : workers) {
            out.add(w.lag());
        }
        return out;
    }

    /** The dead letters it holds, as last counted. */
    public long deadLetterCount() {
        return deadLetterCount.get();
    }

    /** Records a new count of its dead letters; true when it reached the threshold now (to alert once). */
    /** Taken around a count of the dead letters and its store (see the maintenance's recount). */
    public java.util.concurrent.locks.ReentrantLock recountLock() {
        return recountLock;
    }

    public synchronized boolean deadLetters(long count, long alertThreshold) {
        deadLetterCount.set(count);
        if (count >= alertThreshold) {
            if (!alerted) {
                alerted = true;
                return true;
            }
        } else {
            alerted = false;
        }
        return false;
    }

    /**
     * Its meters, to remove when the subscription goes for good. A replacement under the same name keeps
     * them, so its series continue.
     */
    public List<Meter> meters() {
        return List.copyOf(meters);
    }

    @SuppressWarnings("unchecked")
    private static Middleware.Chain compile(Subscription s) {
        Handler<Object> handler = (Handler<Object>) s.handler();
        Middleware.Chain chain = d -> handler.handle((Delivery<Object>) d);
        List<Middleware> list = s.middleware();
        for (int i = list.size() - 1; i >= 0; i--) {
            Middleware m = list.get(i);
            Middleware.Chain next = chain;
            chain = d -> m.around(d, next);
        }
        return chain;
    }
}
