package dev.keel;

import dev.keel.middleware.CircuitBreakerMiddleware;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** A registered subscription: its compiled middleware chain, its lane workers and its counters. */
final class SubscriptionState {
    final Subscription subscription;
    final String name;
    final Middleware.Chain chain;
    final LaneWorker[] workers;
    final LongAdder failedAttempts = new LongAdder();
    final LongAdder retriesScheduled = new LongAdder();
    final LongAdder deadLettered = new LongAdder();
    final LongAdder pauses = new LongAdder();
    final AtomicLong deadLetterCount = new AtomicLong();
    final Counter timeoutWarnings;
    final List<Meter> meters = new java.util.concurrent.CopyOnWriteArrayList<>();
    volatile boolean alerted;
    /** Names of the circuit breakers among its middleware. */
    final List<String> breakers = new ArrayList<>();

    private final Keel keel;
    private final java.util.concurrent.ConcurrentHashMap<String, LaneWorker.TypeMeters> typeMeters =
            new java.util.concurrent.ConcurrentHashMap<>();

    SubscriptionState(Subscription subscription, Keel keel, int lanes) {
        this.subscription = subscription;
        this.keel = keel;
        this.name = subscription.name();
        this.chain = compile(subscription);
        this.workers = new LaneWorker[lanes];
        for (int i = 0; i < lanes; i++) {
            workers[i] = new LaneWorker(keel, this, i);
        }
        Telemetry t = keel.telemetry();
        this.timeoutWarnings = t.timeoutWarnings(name);
        meters.add(timeoutWarnings);
        for (LaneWorker w : workers) {
            meters.add(Gauge.builder(KeelMeter.LANE_LAG.meterName(), w, LaneWorker::lag)
                    .description("events appended to a lane that the subscription has not passed yet")
                    .tag("subscription", name)
                    .tag("lane", Integer.toString(w.lane))
                    .register(t.registry));
        }
        meters.add(Gauge.builder(KeelMeter.PENDING.meterName(), this, s -> s.pendingCount(false))
                .tag("subscription", name)
                .tag("state", "due")
                .register(t.registry));
        meters.add(Gauge.builder(KeelMeter.PENDING.meterName(), this, s -> s.pendingCount(true))
                .tag("subscription", name)
                .tag("state", "parked")
                .register(t.registry));
        meters.add(Gauge.builder(KeelMeter.DEAD_LETTERS.meterName(), deadLetterCount, AtomicLong::get)
                .tag("subscription", name)
                .register(t.registry));
        for (Middleware m : subscription.middleware()) {
            if (m instanceof CircuitBreakerMiddleware cb) {
                breakers.add(cb.breaker().getName());
                cb.breaker().getEventPublisher().onStateTransition(e -> {
                    switch (e.getStateTransition().getToState()) {
                        case OPEN, FORCED_OPEN ->
                            keel.circuitOpened(
                                    cb.breaker().getName(),
                                    Duration.ofMillis(cb.breaker()
                                            .getCircuitBreakerConfig()
                                            .getWaitIntervalFunctionInOpenState()
                                            .apply(1)));
                        case CLOSED -> keel.circuitClosed(cb.breaker().getName());
                        default -> {}
                    }
                });
                meters.add(
                        Gauge.builder(KeelMeter.CIRCUIT_STATE.meterName(), cb.breaker(), SubscriptionState::stateCode)
                                .tag("subscription", name)
                                .tag("breaker", cb.breaker().getName())
                                .register(t.registry));
            }
        }
    }

    LaneWorker.TypeMeters meters(String type) {
        LaneWorker.TypeMeters m = typeMeters.get(type);
        if (m == null) {
            m = typeMeters.computeIfAbsent(type, t -> {
                LaneWorker.TypeMeters made = LaneWorker.newMeters(keel, name, t);
                meters.add(made.timer());
                meters.addAll(java.util.List.of(made.counters()));
                return made;
            });
        }
        return m;
    }

    static double stateCode(CircuitBreaker breaker) {
        return switch (breaker.getState()) {
            case CLOSED -> 0;
            case OPEN, FORCED_OPEN -> 1;
            case HALF_OPEN -> 2;
            default -> 3;
        };
    }

    long pendingCount(boolean parked) {
        long n = 0;
        for (LaneWorker w : workers) {
            n += parked ? w.parkedCount : w.dueCount;
        }
        return n;
    }

    /** Successful deliveries over all lanes. */
    long delivered() {
        long n = 0;
        for (LaneWorker w : workers) {
            n += w.delivered;
        }
        return n;
    }

    long lag() {
        long n = 0;
        for (LaneWorker w : workers) {
            n += w.lag();
        }
        return n;
    }

    List<Long> lagByLane() {
        List<Long> out = new java.util.ArrayList<>(workers.length);
        for (LaneWorker w : workers) {
            out.add(w.lag());
        }
        return out;
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
