package dev.keel.server;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.KeelMeter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.config.MeterFilterReply;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per operation — {@code ingest} ({@code POST /v1/events}), {@code append} (the journal's durable append),
 * {@code delivery:<subscription>} (each subscription's attempts) and {@code webhook:<subscription>} (a webhook
 * subscription's calls, by the answer's status class) —
 * the rate, success rate, p50/p95/p99 latency, errors by type and resilience counters over a sliding window (60 s by
 * default, in 12 buckets), and the {@link AlertRule}s checked against them.
 *
 * <p>Nothing is recorded twice: the monitor reads Keel's own meters ({@link KeelMeter}). When the runtime meters into
 * a {@link CompositeMeterRegistry} (its default, and what {@code keel serve} uses), the monitor adds a registry of its
 * own behind it, whose timers keep their percentiles over the window (Micrometer's rotating histograms do the
 * percentile math); over another registry it reads that one, and shows no percentiles. Recording stays Micrometer's
 * lock-free path on the threads that record; everything else is owned by one platform thread,
 * {@code keel-performance}, which every tick reads the cumulative counts, keeps one sample per bucket, publishes an
 * immutable view for {@code /v1/stats}, and raises or clears alerts by emitting {@code keel.alert.raised} and
 * {@code keel.alert.cleared} events.
 */
final class PerformanceMonitor implements AutoCloseable {
    /** The window by default: 60 s. */
    static final Duration DEFAULT_WINDOW = Duration.ofSeconds(60);
    /** Buckets of a window: a tick each. */
    static final int BUCKETS = 12;
    /** The type of the event emitted when an alert rule is crossed. */
    static final String RAISED = "keel.alert.raised";
    /** The type of the event emitted when an operation is back under a rule that was raised. */
    static final String CLEARED = "keel.alert.cleared";

    private static final Logger log = LoggerFactory.getLogger(PerformanceMonitor.class);
    private static final Set<String> WATCHED = Set.of(
            KeelMeter.INGEST_REQUESTS.meterName(),
            KeelMeter.JOURNAL_APPEND.meterName(),
            KeelMeter.WEBHOOK_CALLS.meterName(),
            KeelMeter.DELIVERIES.meterName(),
            KeelMeter.DELIVERY_DURATION.meterName(),
            KeelMeter.TIMEOUTS.meterName(),
            KeelMeter.TIMEOUT_WARNINGS.meterName(),
            KeelMeter.GRACE_RECOVERIES.meterName(),
            KeelMeter.CANCELLATIONS.meterName(),
            KeelMeter.CIRCUIT_STATE.meterName());
    private static final double[] PERCENTILES = {0.5, 0.95, 0.99};

    private final Keel keel;
    private final Duration window;
    private final List<AlertRule> rules;
    private final MeterRegistry source;
    /** Null when the runtime's registry is not a composite. */
    private final CompositeMeterRegistry attachedTo;

    private final SimpleMeterRegistry own;
    private final ScheduledExecutorService ticker;

    // Owned by the keel-performance thread.
    private final ArrayDeque<Sample> samples = new ArrayDeque<>();
    private final Map<String, Double> circuitStates = new HashMap<>();
    private final Map<String, Long> circuitTrips = new HashMap<>();
    private final Map<String, Map<String, Object>> raised = new HashMap<>();

    /** The last view published by the ticker. */
    private volatile Map<String, Map<String, Object>> published = Map.of();
    /** The alerts raised and not cleared, as of the last tick. */
    private volatile List<Map<String, Object>> publishedAlerts = List.of();

    PerformanceMonitor(Keel keel, Duration window, List<AlertRule> rules) {
        this.keel = keel;
        this.window = window;
        this.rules = List.copyOf(rules);
        if (keel.meterRegistry() instanceof CompositeMeterRegistry composite) {
            this.own = new SimpleMeterRegistry();
            own.config().meterFilter(MeterFilter.denyUnless(id -> WATCHED.contains(id.getName())));
            own.config().meterFilter(windowed(window));
            composite.add(own);
            this.attachedTo = composite;
            this.source = own;
        } else {
            this.own = null;
            this.attachedTo = null;
            this.source = keel.meterRegistry();
        }
        this.ticker = Executors.newSingleThreadScheduledExecutor(
                r -> Thread.ofPlatform().name("keel-performance").daemon().unstarted(r));
    }

    /** Per subscription rather than per subscription and type, and timers that keep percentiles over the window. */
    private static MeterFilter windowed(Duration window) {
        return new MeterFilter() {
            @Override
            public Meter.Id map(Meter.Id id) {
                if (id.getName().equals(KeelMeter.DELIVERIES.meterName())
                        || id.getName().equals(KeelMeter.DELIVERY_DURATION.meterName())) {
                    List<Tag> tags = new ArrayList<>();
                    id.getTagsAsIterable().forEach(t -> {
                        if (!t.getKey().equals("type")) {
                            tags.add(t);
                        }
                    });
                    return id.replaceTags(tags);
                }
                return id;
            }

            @Override
            public MeterFilterReply accept(Meter.Id id) {
                return MeterFilterReply.NEUTRAL;
            }

            @Override
            public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
                if (id.getType() != Meter.Type.TIMER) {
                    return config;
                }
                return DistributionStatisticConfig.builder()
                        .percentiles(PERCENTILES)
                        .percentilePrecision(2)
                        .expiry(window)
                        .bufferLength(BUCKETS)
                        .build()
                        .merge(config);
            }
        };
    }

    /** Starts ticking: one sample per bucket. */
    void start() {
        long tick = Math.max(1, window.toNanos() / BUCKETS);
        ticker.scheduleAtFixedRate(this::tickSafely, 0, tick, TimeUnit.NANOSECONDS);
    }

    /** The window the rates, percentiles and alerts are measured over. */
    Duration window() {
        return window;
    }

    /**
     * The operations as a caller may see them: every one for the admin of the whole runtime, and for a tenant only
     * the deliveries of its own subscriptions (ingest and append are shared by every tenant).
     */
    Map<String, Object> view(boolean wholeRuntime, Predicate<String> visibleSubscription) {
        Map<String, Object> ops = new LinkedHashMap<>();
        published.forEach((op, stats) -> {
            if (visible(op, wholeRuntime, visibleSubscription)) {
                ops.put(op, stats);
            }
        });
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("windowSeconds", window.toMillis() / 1000.0);
        out.put("percentiles", own != null);
        out.put("operations", ops);
        List<Map<String, Object>> rulesShown = new ArrayList<>();
        for (AlertRule r : rules) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", r.name());
            m.put("operation", r.operation());
            m.put("metric", r.metric() == AlertRule.Metric.ERROR_RATE ? "errorRate" : "p95");
            m.put("threshold", r.threshold());
            m.put("minCalls", r.minCalls());
            rulesShown.add(m);
        }
        out.put("rules", wholeRuntime ? rulesShown : List.of());
        out.put(
                "raised",
                publishedAlerts.stream()
                        .filter(a -> visible(String.valueOf(a.get("operation")), wholeRuntime, visibleSubscription))
                        .toList());
        return out;
    }

    /** Whether a caller sees an operation: a subscription's if it sees the subscription, the others if admin. */
    private static boolean visible(String op, boolean wholeRuntime, Predicate<String> visibleSubscription) {
        int colon = op.indexOf(':');
        return colon < 0 ? wholeRuntime : visibleSubscription.test(op.substring(colon + 1));
    }

    private void tickSafely() {
        try {
            tick();
        } catch (RuntimeException e) {
            log.warn("the performance monitor's tick failed", e);
        }
    }

    /** One tick: sample, publish, check the rules. */
    private void tick() {
        Sample now = new Sample(System.nanoTime(), read());
        samples.addLast(now);
        while (samples.size() > BUCKETS + 1) {
            samples.removeFirst();
        }
        Sample oldest = samples.getFirst();
        double seconds = (now.nanos() - oldest.nanos()) / 1e9;
        Map<String, Map<String, Object>> view = new TreeMap<>();
        Map<String, Window> windows = new HashMap<>();
        now.totals().forEach((op, totals) -> {
            Window w = totals.since(oldest.totals().get(op));
            windows.put(op, w);
            view.put(op, w.describe(seconds, percentiles(op)));
        });
        published = java.util.Collections.unmodifiableMap(view); // sorted by operation
        check(windows, view);
        publishedAlerts = List.copyOf(raised.values());
    }

    /** The cumulative counts of every operation now. */
    private Map<String, Totals> read() {
        Map<String, Totals> totals = new HashMap<>();
        for (Meter meter : source.getMeters()) {
            Meter.Id id = meter.getId();
            String name = id.getName();
            String subscription = id.getTag("subscription");
            if (name.equals(KeelMeter.INGEST_REQUESTS.meterName()) && meter instanceof Timer t) {
                calls(totals.computeIfAbsent("ingest", o -> new Totals()), id.getTag("outcome"), "accepted", t.count());
            } else if (name.equals(KeelMeter.JOURNAL_APPEND.meterName()) && meter instanceof Timer t) {
                calls(totals.computeIfAbsent("append", o -> new Totals()), id.getTag("outcome"), "stored", t.count());
            } else if (name.equals(KeelMeter.WEBHOOK_CALLS.meterName()) && meter instanceof Timer t) {
                calls(
                        totals.computeIfAbsent("webhook:" + subscription, o -> new Totals()),
                        id.getTag("outcome"),
                        "2xx",
                        t.count());
            } else if (subscription != null) {
                Totals s = totals.computeIfAbsent("delivery:" + subscription, o -> new Totals());
                if (name.equals(KeelMeter.DELIVERIES.meterName())) {
                    String outcome = String.valueOf(id.getTag("outcome"));
                    long n = count(meter);
                    switch (outcome) {
                        case "success" -> calls(s, outcome, "success", n);
                        case "retry", "dead_letter" -> {
                            calls(s, outcome, "success", n);
                            s.resilience.merge(outcome.equals("retry") ? "retries" : "deadLetters", n, Long::sum);
                        }
                        default -> s.resilience.merge(outcome, n, Long::sum);
                    }
                } else if (name.equals(KeelMeter.TIMEOUTS.meterName())) {
                    s.resilience.merge("timeouts", count(meter), Long::sum);
                } else if (name.equals(KeelMeter.TIMEOUT_WARNINGS.meterName())) {
                    s.resilience.merge("timeoutWarnings", count(meter), Long::sum);
                } else if (name.equals(KeelMeter.GRACE_RECOVERIES.meterName())) {
                    s.resilience.merge("graceRecoveries", count(meter), Long::sum);
                } else if (name.equals(KeelMeter.CANCELLATIONS.meterName())) {
                    s.resilience.merge("cancellations", count(meter), Long::sum);
                } else if (name.equals(KeelMeter.CIRCUIT_STATE.meterName()) && meter instanceof Gauge g) {
                    double state = g.value();
                    Double before = circuitStates.put(subscription, state);
                    if (state == 1.0 && (before == null || before != 1.0)) {
                        circuitTrips.merge(subscription, 1L, Long::sum);
                    }
                    s.circuit = state == 0 ? "closed" : state == 1 ? "open" : state == 2 ? "half-open" : "other";
                    s.resilience.put("circuitTrips", circuitTrips.getOrDefault(subscription, 0L));
                }
            }
        }
        return totals;
    }

    private static void calls(Totals t, String outcome, String success, long n) {
        t.calls += n;
        if (success.equals(outcome)) {
            t.ok += n;
        } else {
            t.errors.merge(String.valueOf(outcome), n, Long::sum);
        }
    }

    private static long count(Meter meter) {
        return switch (meter) {
            case Counter c -> (long) c.count();
            case FunctionCounter c -> (long) c.count();
            case Timer t -> t.count();
            default -> 0;
        };
    }

    /** p50, p95 and p99 over the window, in milliseconds, of the operation's successful calls; null without them. */
    private Map<String, Double> percentiles(String op) {
        if (own == null) {
            return null;
        }
        Timer timer =
                switch (op) {
                    case "ingest" ->
                        own.find(KeelMeter.INGEST_REQUESTS.meterName())
                                .tag("outcome", "accepted")
                                .timer();
                    case "append" ->
                        own.find(KeelMeter.JOURNAL_APPEND.meterName())
                                .tag("outcome", "stored")
                                .timer();
                    case String w
                    when w.startsWith("webhook:") ->
                        own.find(KeelMeter.WEBHOOK_CALLS.meterName())
                                .tag("subscription", op.substring("webhook:".length()))
                                .tag("outcome", "2xx")
                                .timer();
                    default ->
                        own.find(KeelMeter.DELIVERY_DURATION.meterName())
                                .tag("subscription", op.substring("delivery:".length()))
                                .timer();
                };
        if (timer == null) {
            return null;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (ValueAtPercentile v : timer.takeSnapshot().percentileValues()) {
            out.put("p" + Math.round(v.percentile() * 100), v.value(TimeUnit.MILLISECONDS));
        }
        return out;
    }

    /** Raises the rules crossed now and clears those that were raised and are back under their threshold. */
    private void check(Map<String, Window> windows, Map<String, Map<String, Object>> view) {
        for (AlertRule rule : rules) {
            for (Map.Entry<String, Window> e : windows.entrySet()) {
                String op = e.getKey();
                if (!rule.matches(op)) {
                    continue;
                }
                Window w = e.getValue();
                Double measure = null;
                if (w.calls() >= rule.minCalls()) {
                    if (rule.metric() == AlertRule.Metric.ERROR_RATE) {
                        measure = 100.0 * (w.calls() - w.ok()) / w.calls();
                    } else if (view.get(op).get("latencyMs") instanceof Map<?, ?> p
                            && p.get("p95") instanceof Double d) {
                        measure = d;
                    }
                }
                String key = rule.name() + "|" + op;
                if (measure == null) {
                    continue; // too few calls to tell: an alert stays as it is
                }
                boolean over = measure > rule.threshold();
                if (over && !raised.containsKey(key)) {
                    Map<String, Object> alert = alert(rule, op, measure, w.calls());
                    raised.put(key, alert);
                    emit(RAISED, alert);
                } else if (!over && raised.containsKey(key)) {
                    raised.remove(key);
                    emit(CLEARED, alert(rule, op, measure, w.calls()));
                }
            }
        }
    }

    private Map<String, Object> alert(AlertRule rule, String op, double measure, long calls) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("rule", rule.name());
        data.put("operation", op);
        data.put("metric", rule.metric() == AlertRule.Metric.ERROR_RATE ? "errorRate" : "p95");
        data.put("threshold", rule.threshold());
        data.put("value", measure);
        data.put("calls", calls);
        data.put("windowSeconds", window.toMillis() / 1000.0);
        return data;
    }

    private void emit(String type, Map<String, Object> data) {
        try {
            keel.emit(Event.builder(type, (Object) data)
                            .source("keel/performance-monitor")
                            .key(String.valueOf(data.get("rule")) + "|" + data.get("operation"))
                            .build())
                    .whenComplete((r, err) -> {
                        if (err != null) {
                            log.warn("could not emit {} for {}", type, data, err);
                        }
                    });
            log.info("{}: {}", type, data);
        } catch (RuntimeException e) {
            log.warn("could not emit {} for {}", type, data, e);
        }
    }

    @Override
    public void close() {
        ticker.shutdownNow();
        if (attachedTo != null) {
            attachedTo.remove(own);
            own.close();
        }
    }

    /** Cumulative counts of one operation, as read at one tick. */
    private static final class Totals {
        long calls;
        long ok;
        String circuit;
        final Map<String, Long> errors = new TreeMap<>();
        final Map<String, Long> resilience = new TreeMap<>();

        /** What happened since an earlier sample (all of it when there is none). */
        Window since(Totals before) {
            Map<String, Long> errs = new TreeMap<>();
            errors.forEach((k, v) -> errs.put(k, delta(v, before == null ? null : before.errors.get(k))));
            Map<String, Long> res = new TreeMap<>();
            resilience.forEach((k, v) -> res.put(k, delta(v, before == null ? null : before.resilience.get(k))));
            return new Window(
                    delta(calls, before == null ? null : before.calls),
                    delta(ok, before == null ? null : before.ok),
                    errs,
                    res,
                    circuit);
        }

        /** Counts only grow, unless a meter was removed (a subscription deleted and made again): never below 0. */
        private static long delta(long now, Long before) {
            return Math.max(0, now - (before == null ? 0 : before));
        }
    }

    /** One operation over the window. */
    private record Window(long calls, long ok, Map<String, Long> errors, Map<String, Long> resilience, String circuit) {
        Map<String, Object> describe(double seconds, Map<String, Double> percentiles) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("calls", calls);
            m.put("ratePerSecond", seconds > 0 ? calls / seconds : 0.0);
            m.put("successRate", calls == 0 ? null : (double) ok / calls);
            m.put("latencyMs", calls == 0 || percentiles == null || percentiles.isEmpty() ? null : percentiles);
            m.put("errors", errors);
            if (!resilience.isEmpty()) {
                m.put("resilience", resilience);
            }
            if (circuit != null) {
                m.put("circuit", circuit);
            }
            return m;
        }
    }

    /** The totals of every operation at one tick. */
    private record Sample(long nanos, Map<String, Totals> totals) {}
}
