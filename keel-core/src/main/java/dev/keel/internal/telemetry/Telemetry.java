package dev.keel.internal.telemetry;

import dev.keel.Event;
import dev.keel.KeelMeter;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.TraceFlags;
import io.opentelemetry.api.trace.TraceState;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Metrics (Micrometer) and spans (OpenTelemetry API) of one runtime; spans are skipped when none is wired. */
public final class Telemetry {
    public static final String INSTRUMENTATION = "dev.keel";

    private final MeterRegistry registry;
    private final Tracer tracer;
    private final ConcurrentHashMap<String, Counter> emitted = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Counter> rejected = new ConcurrentHashMap<>();

    private final LogContext logContext;
    /** Append time, by outcome: registered once, so the emit path only reads a clock and records. */
    private final Timer appendStored;

    private final Timer appendFailed;

    public Telemetry(MeterRegistry registry, OpenTelemetry openTelemetry, boolean logContext) {
        this.logContext = new LogContext(logContext);
        this.registry = registry;
        this.tracer = openTelemetry == null ? null : openTelemetry.getTracer(INSTRUMENTATION);
        this.appendStored = appendTimer("stored");
        this.appendFailed = appendTimer("failed");
    }

    private Timer appendTimer(String outcome) {
        return Timer.builder(KeelMeter.JOURNAL_APPEND.meterName())
                .description(KeelMeter.JOURNAL_APPEND.description())
                .tag("outcome", outcome)
                .register(registry);
    }

    /** Records an append (one emit or one batch) that started at {@code startNanos} ({@link System#nanoTime()}). */
    public void appended(long startNanos, boolean stored) {
        (stored ? appendStored : appendFailed).record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
    }

    /** The registry meters go to. */
    public MeterRegistry registry() {
        return registry;
    }

    public boolean tracing() {
        return tracer != null;
    }

    /** The last type emitted and its counter: producers mostly repeat a type, so this skips the map. */
    private record LastEmitted(String type, Counter counter) {}

    private volatile LastEmitted lastEmitted;

    public void emitted(String type) {
        LastEmitted last = lastEmitted;
        if (last != null && last.type() == type) {
            last.counter().increment();
            return;
        }
        Counter c = emitted.computeIfAbsent(type, t -> Counter.builder(KeelMeter.EVENTS_EMITTED.meterName())
                .description(KeelMeter.EVENTS_EMITTED.description())
                .tag("type", t)
                .register(registry));
        lastEmitted = new LastEmitted(type, c);
        c.increment();
    }

    /**
     * Whether meters record anything: false for the default registry while nothing is added behind it, so
     * the hot path can skip clock reads and counter calls. Meters are still registered, and start counting
     * as soon as a registry is added to the composite.
     */
    public boolean metering() {
        return metering;
    }

    private volatile boolean metering = computeMetering();

    /** Re-reads whether a registry was added behind the default composite (called each watchdog tick). */
    public void refresh() {
        metering = computeMetering();
    }

    private boolean computeMetering() {
        return !(registry instanceof io.micrometer.core.instrument.composite.CompositeMeterRegistry c)
                || !c.getRegistries().isEmpty();
    }

    public void rejected(String reason) {
        rejected.computeIfAbsent(reason, r -> Counter.builder(KeelMeter.EVENTS_REJECTED.meterName())
                        .description(KeelMeter.EVENTS_REJECTED.description())
                        .tag("reason", r)
                        .register(registry))
                .increment();
    }

    public Counter delivery(String subscription, String type, String outcome) {
        return Counter.builder(KeelMeter.DELIVERIES.meterName())
                .description(KeelMeter.DELIVERIES.description())
                .tag("subscription", subscription)
                .tag("type", type)
                .tag("outcome", outcome)
                .register(registry);
    }

    public Timer duration(String subscription, String type) {
        return Timer.builder(KeelMeter.DELIVERY_DURATION.meterName())
                .description(KeelMeter.DELIVERY_DURATION.description())
                .tag("subscription", subscription)
                .tag("type", type)
                .register(registry);
    }

    public Counter timeoutWarnings(String subscription) {
        return Counter.builder(KeelMeter.TIMEOUT_WARNINGS.meterName())
                .description(KeelMeter.TIMEOUT_WARNINGS.description())
                .tag("subscription", subscription)
                .register(registry);
    }

    /** Puts deliveries into the logging context, when asked to. */
    public LogContext logContext() {
        return logContext;
    }

    /** A per-subscription counter of the given meter (timeouts, grace recoveries, cancellations). */
    public Counter subscriptionCounter(KeelMeter meter, String subscription) {
        return Counter.builder(meter.meterName())
                .description(meter.description())
                .tag("subscription", subscription)
                .register(registry);
    }

    /** A producer span for an emit, child of the current context; null when tracing is off. */
    public Span startProducer(String type) {
        if (tracer == null) {
            return null;
        }
        return tracer.spanBuilder("emit " + type)
                .setSpanKind(SpanKind.PRODUCER)
                .setAttribute("messaging.system", "keel")
                .setAttribute("messaging.destination.name", type)
                .startSpan();
    }

    /** A consumer span for a delivery, child of the producer's trace context carried by the event. */
    public Span startConsumer(String subscription, Event<?> event, int attempt) {
        if (tracer == null) {
            return null;
        }
        var builder = tracer.spanBuilder("deliver " + event.type())
                .setSpanKind(SpanKind.CONSUMER)
                .setAttribute("messaging.system", "keel")
                .setAttribute("messaging.destination.name", event.type())
                .setAttribute("messaging.message.id", event.id())
                .setAttribute("messaging.consumer.group.name", subscription)
                .setAttribute("keel.attempt", attempt);
        SpanContext producer = parse(event.traceparent());
        if (producer != null) {
            builder.setParent(Context.root().with(Span.wrap(producer))).addLink(producer);
        } else {
            builder.setNoParent();
        }
        return builder.startSpan();
    }

    /** The W3C traceparent header value of a span. */
    public static String traceparent(Span span) {
        SpanContext c = span.getSpanContext();
        if (!c.isValid()) {
            return null;
        }
        return "00-" + c.getTraceId() + "-" + c.getSpanId() + "-"
                + c.getTraceFlags().asHex();
    }

    public static SpanContext parse(String traceparent) {
        if (traceparent == null || traceparent.length() != 55 || !traceparent.startsWith("00-")) {
            return null;
        }
        String traceId = traceparent.substring(3, 35);
        String spanId = traceparent.substring(36, 52);
        String flags = traceparent.substring(53, 55);
        try {
            SpanContext c = SpanContext.createFromRemoteParent(
                    traceId, spanId, TraceFlags.fromHex(flags, 0), TraceState.getDefault());
            return c.isValid() ? c : null;
        } catch (RuntimeException e) {
            return null;
        }
    }
}
