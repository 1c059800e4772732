package dev.keel.internal.telemetry;

import dev.keel.Event;
import io.opentelemetry.api.trace.Span;
import org.slf4j.MDC;

/**
 * Puts the delivery a thread is making into the logging context (SLF4J's MDC), so that every line a handler or Keel
 * logs meanwhile carries it: {@code eventId}, {@code subscription}, {@code correlationId} and {@code traceId}. A
 * structured (JSON) log then ties each line to its event and trace. What the thread had under those keys before
 * (a caller of {@code process()}, an outer delivery) is put back afterwards. Off by default: it costs a few map
 * operations per delivery; {@code keel serve} turns it on.
 */
public final class LogContext {
    static final String EVENT_ID = "eventId";
    static final String SUBSCRIPTION = "subscription";
    static final String CORRELATION_ID = "correlationId";
    static final String TRACE_ID = "traceId";
    private static final String[] KEYS = {EVENT_ID, SUBSCRIPTION, CORRELATION_ID, TRACE_ID};

    /** What a thread had under the keys before a delivery, to put back after it. */
    public record Saved(String[] values) {}

    private static final Saved NOTHING = new Saved(null);

    private final boolean enabled;

    public LogContext(boolean enabled) {
        this.enabled = enabled;
    }

    /** Whether deliveries are put into the logging context. */
    public boolean enabled() {
        return enabled;
    }

    /** Puts the delivery into this thread's logging context; hand what it answers to {@link #exit}. */
    public Saved enter(String subscription, Event<?> event, Span span) {
        if (!enabled) {
            return NOTHING;
        }
        String[] before = new String[KEYS.length];
        for (int i = 0; i < KEYS.length; i++) {
            before[i] = MDC.get(KEYS[i]);
        }
        MDC.put(EVENT_ID, event.id());
        MDC.put(SUBSCRIPTION, subscription);
        MDC.put(CORRELATION_ID, event.correlationId() != null ? event.correlationId() : event.id());
        String trace = span != null && span.getSpanContext().isValid()
                ? span.getSpanContext().getTraceId()
                : traceIdOf(event.traceparent());
        if (trace != null) {
            MDC.put(TRACE_ID, trace);
        } else {
            MDC.remove(TRACE_ID); // not an outer delivery's trace on this event's lines
        }
        return new Saved(before);
    }

    /** Puts back what this thread had under the keys before the delivery. */
    public void exit(Saved saved) {
        if (!enabled || saved.values() == null) {
            return;
        }
        for (int i = 0; i < KEYS.length; i++) {
            String v = saved.values()[i];
            if (v == null) {
                MDC.remove(KEYS[i]);
            } else {
                MDC.put(KEYS[i], v);
            }
        }
    }

    /** The trace id of a W3C {@code traceparent} ({@code 00-<trace id>-<span id>-<flags>}), or null. */
    static String traceIdOf(String traceparent) {
        if (traceparent == null || traceparent.length() < 55 || traceparent.charAt(2) != '-') {
            return null;
        }
        return traceparent.substring(3, 35);
    }
}
