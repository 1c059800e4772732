package dev.keel.internal.telemetry;

import dev.keel.Event;
import io.opentelemetry.api.trace.Span;
import org.slf4j.MDC;

/**
 * Puts the delivery a thread is making into the logging context (SLF4J's MDC), so that every line a handler or Keel
 * logs meanwhile carries it: {@code eventId}, {@code subscription}, {@code correlationId} and {@code traceId}. A
 * structured (JSON) log then ties each line to its event and trace. Off by default: it costs a few map operations
 * per delivery; {@code keel serve} turns it on.
 */
public final class LogContext {
    static final String EVENT_ID = "eventId";
    static final String SUBSCRIPTION = "subscription";
    static final String CORRELATION_ID = "correlationId";
    static final String TRACE_ID = "traceId";

    private final boolean enabled;

    public LogContext(boolean enabled) {
        this.enabled = enabled;
    }

    /** Whether deliveries are put into the logging context. */
    public boolean enabled() {
        return enabled;
    }

    /** Puts the delivery into this thread's logging context; {@link #exit} takes it out. */
    public void enter(String subscription, Event<?> event, Span span) {
        if (!enabled) {
            return;
        }
        MDC.put(EVENT_ID, event.id());
        MDC.put(SUBSCRIPTION, subscription);
        String correlation = event.correlationId() != null ? event.correlationId() : event.id();
        MDC.put(CORRELATION_ID, correlation);
        String trace = span != null && span.getSpanContext().isValid()
                ? span.getSpanContext().getTraceId()
                : traceIdOf(event.traceparent());
        if (trace != null) {
            MDC.put(TRACE_ID, trace);
        }
    }

    /** Takes the delivery out of this thread's logging context. */
    public void exit() {
        if (!enabled) {
            return;
        }
        MDC.remove(EVENT_ID);
        MDC.remove(SUBSCRIPTION);
        MDC.remove(CORRELATION_ID);
        MDC.remove(TRACE_ID);
    }

    /** The trace id of a W3C {@code traceparent} ({@code 00-<trace id>-<span id>-<flags>}), or null. */
    static String traceIdOf(String traceparent) {
        if (traceparent == null || traceparent.length() < 55 || traceparent.charAt(2) != '-') {
            return null;
        }
        return traceparent.substring(3, 35);
    }
}
