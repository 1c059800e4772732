package dev.keel.server;

import java.time.Duration;
import java.util.Objects;

/**
 * A threshold on one operation of the {@link PerformanceMonitor}, checked over its window at each of its ticks: when
 * crossed, the server emits a {@code keel.alert.raised} event into the runtime (once, until it is cleared), and when
 * the operation is back under it, a {@code keel.alert.cleared} event. Subscribers receive them like any other event
 * (a webhook on {@code keel.alert.*}, an event stream).
 *
 * <pre>{@code
 * KeelServer.builder(keel)
 *         .alert(AlertRule.errorRate("delivery:orders-hook", 10.0))   // over 10% of attempts failing
 *         .alert(AlertRule.p95("append", Duration.ofMillis(50)))       // p95 append time over 50 ms
 * }</pre>
 *
 * @param name the rule's name, carried by its events; {@code <metric>:<operation>} when built by the factories
 * @param operation an operation of the monitor ({@code ingest}, {@code append}, {@code delivery:<subscription>},
 *     {@code webhook:<subscription>}), or a prefix of them ending in {@code *} ({@code delivery:*}: each subscription's delivery, each alerted on its
 *     own)
 * @param metric what is compared with the threshold
 * @param threshold the percentage of failed calls (0 to 100, exclusive of 100) for {@link Metric#ERROR_RATE}; the
 *     p95 in milliseconds for {@link Metric#P95}; crossed when the measure is above it
 * @param minCalls how many calls the window must hold before the rule is checked (fewer say little); at least 1
 */
public record AlertRule(String name, String operation, Metric metric, double threshold, long minCalls) {
    /** The calls a window must hold by default before a rule is checked: 5. */
    public static final long DEFAULT_MIN_CALLS = 5;

    /** What a rule measures. */
    public enum Metric {
        /** The share of the window's calls that failed, in percent. */
        ERROR_RATE,
        /** The 95th percentile of the window's latencies, in milliseconds. */
        P95
    }

    public AlertRule {
        Objects.requireNonNull(metric, "metric");
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("an alert rule needs a name");
        }
        if (operation == null
                || !(operation.equals("ingest")
                        || operation.equals("append")
                        || operation.startsWith("delivery:") && operation.length() > "delivery:".length()
                        || operation.startsWith("webhook:") && operation.length() > "webhook:".length())) {
            throw new IllegalArgumentException("alert '" + name + "': the operation must be 'ingest', 'append',"
                    + " 'delivery:<subscription>' or 'webhook:<subscription>' (a trailing '*' matches a prefix) but"
                    + " was '" + operation + "'");
        }
        if (operation.indexOf('*') >= 0 && operation.indexOf('*') != operation.length() - 1) {
            throw new IllegalArgumentException(
                    "alert '" + name + "': '*' may only end the operation but was '" + operation + "'");
        }
        if (metric == Metric.ERROR_RATE && !(threshold >= 0 && threshold < 100)) {
            throw new IllegalArgumentException("alert '" + name
                    + "': an error-rate threshold is a percentage from 0 to below 100 but was " + threshold);
        }
        if (metric == Metric.P95 && !(threshold > 0 && Double.isFinite(threshold))) {
            throw new IllegalArgumentException("alert '" + name
                    + "': a p95 threshold must be a positive number of milliseconds but was " + threshold);
        }
        if (minCalls < 1) {
            throw new IllegalArgumentException("alert '" + name + "': minCalls must be at least 1 but was " + minCalls);
        }
    }

    /** Alerts when over {@code percent}% of an operation's calls in the window failed. */
    public static AlertRule errorRate(String operation, double percent) {
        return new AlertRule("error-rate:" + operation, operation, Metric.ERROR_RATE, percent, DEFAULT_MIN_CALLS);
    }

    /** Alerts when an operation's p95 latency in the window is over {@code limit}. */
    public static AlertRule p95(String operation, Duration limit) {
        Objects.requireNonNull(limit, "limit");
        return new AlertRule("p95:" + operation, operation, Metric.P95, limit.toNanos() / 1e6, DEFAULT_MIN_CALLS);
    }

    /** The same rule checked only once the window holds at least {@code value} calls. */
    public AlertRule withMinCalls(long value) {
        return new AlertRule(name, operation, metric, threshold, value);
    }

    /** The same rule under another name. */
    public AlertRule withName(String value) {
        return new AlertRule(value, operation, metric, threshold, minCalls);
    }

    /** Whether the rule applies to an operation of the monitor. */
    boolean matches(String op) {
        return operation.endsWith("*")
                ? op.startsWith(operation.substring(0, operation.length() - 1))
                : op.equals(operation);
    }
}
