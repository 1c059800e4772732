package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

/** A delivery in the logging context: what a handler's log lines carry, and nothing left after it. */
class LogContextTest {
    private Keel keel;

    @AfterEach
    void close() {
        keel.close();
    }

    private Map<String, String> seenBy(boolean logContext, Event<?> event) {
        AtomicReference<Map<String, String>> seen = new AtomicReference<>();
        AtomicReference<Map<String, String>> after = new AtomicReference<>();
        keel = Keel.builder().lanes(1).logContext(logContext).build();
        keel.subscribe(Subscription.builder("ledger")
                .types("order.*")
                .handler(Object.class, d -> seen.set(MDC.getCopyOfContextMap()))
                .build());
        keel.emit(event).join();
        keel.process();
        after.set(MDC.getCopyOfContextMap());
        assertThat(after.get() == null || after.get().isEmpty()).isTrue();
        return seen.get() == null ? Map.of() : seen.get();
    }

    @Test
    void shouldPutTheDeliveryIntoTheLoggingContextWhenAsked() {
        Event<?> event = Event.builder("order.placed", (Object) Map.of("n", 1))
                .key("order-7")
                .correlationId("checkout-42")
                .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .build();
        Map<String, String> seen = seenBy(true, event);
        assertThat(seen)
                .containsEntry("eventId", event.id())
                .containsEntry("subscription", "ledger")
                .containsEntry("correlationId", "checkout-42")
                .containsEntry("traceId", "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    @Test
    void shouldPutBackWhatTheCallingThreadHadUnderTheKeys() {
        MDC.put("traceId", "the-callers-trace");
        try {
            Event<?> event =
                    Event.builder("order.placed", (Object) Map.of("n", 1)).build();
            AtomicReference<String> during = new AtomicReference<>();
            keel = Keel.builder().lanes(1).logContext(true).build();
            keel.subscribe(Subscription.builder("ledger")
                    .types("order.*")
                    .handler(Object.class, d -> during.set(MDC.get("traceId")))
                    .build());
            keel.emit(event).join();
            keel.process(); // delivers on this thread
            assertThat(during.get()).isNull(); // not the caller's trace on this event's lines
            assertThat(MDC.get("traceId")).isEqualTo("the-callers-trace");
            assertThat(MDC.get("eventId")).isNull();
        } finally {
            MDC.clear();
        }
    }

    @Test
    void shouldLeaveTheLoggingContextAloneByDefault() {
        Event<?> event = Event.builder("order.placed", (Object) Map.of("n", 1)).build();
        assertThat(seenBy(false, event)).doesNotContainKeys("eventId", "subscription", "traceId");
    }
}
