package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Receipt;
import dev.keel.Subscription;
import dev.keel.memory.MemoryJournal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EmitAndDeliverTest {
    record Order(String id, int total) {}

    private final TestClock clock = TestClock.create();
    private final Keel keel = Keel.builder()
            .clock(clock)
            .journal(new MemoryJournal(clock))
            .lanes(4)
            .build();

    @AfterEach
    void close() {
        keel.close();
    }

    @Test
    void shouldDeliverAnEmittedEventToEveryMatchingSubscription() {
        List<String> billing = new ArrayList<>();
        List<String> audit = new ArrayList<>();
        List<String> shipping = new ArrayList<>();
        keel.on("order.*", Order.class, d -> billing.add(d.data().id()));
        keel.on("**", Object.class, d -> audit.add(d.event().type()));
        keel.on("shipment.*", Object.class, d -> shipping.add(d.event().type()));

        Receipt r = keel.emit("order.created", "o-1", new Order("o-1", 30)).join();
        keel.emit("customer.registered", "c-1", Map.of("name", "Ada")).join();
        keel.process();

        assertThat(r.duplicate()).isFalse();
        assertThat(r.sequence()).isEqualTo(1);
        assertThat(billing).containsExactly("o-1");
        assertThat(audit).containsExactlyInAnyOrder("order.created", "customer.registered");
        assertThat(shipping).isEmpty();
        assertThat(keel.stats().emitted()).isEqualTo(2);
        assertThat(keel.stats().delivered()).isEqualTo(3);
    }

    @Test
    void shouldConvertMapAndJsonDataToTheHandlersType() {
        List<Order> seen = new ArrayList<>();
        keel.on("order.created", Order.class, d -> seen.add(d.data()));
        keel.emit("order.created", "o-1", Map.of("id", "o-1", "total", 12)).join();
        keel.emit("order.created", "o-2", "{\"id\":\"o-2\",\"total\":7}").join();
        keel.emit("order.created", "o-3", "{\"id\":\"o-3\",\"total\":1}".getBytes())
                .join();
        keel.process();
        assertThat(seen).containsExactlyInAnyOrder(new Order("o-1", 12), new Order("o-2", 7), new Order("o-3", 1));
    }

    @Test
    void shouldDeadLetterDataThatCannotBeConvertedWithoutRetrying() {
        keel.on("order.created", Order.class, d -> {});
        keel.emit("order.created", "o-1", "not json at all").join();
        keel.process();
        assertThat(keel.deadLetters().list(dev.keel.DeadLetterQuery.all()))
                .singleElement()
                .satisfies(d -> {
                    assertThat(d.reason()).startsWith("permanent failure").contains("cannot be read as");
                    assertThat(d.errors()).hasSize(1);
                });
    }

    @Test
    void shouldAcceptARepeatedIdempotencyKeyOnce() {
        List<Object> seen = new CopyOnWriteArrayList<>();
        keel.on("payment.*", Object.class, d -> seen.add(d.data()));
        Event<String> first =
                Event.builder("payment.received", "p1").idempotencyKey("pay-42").build();
        Event<String> again = Event.builder("payment.received", "p1-again")
                .idempotencyKey("pay-42")
                .build();
        Receipt r1 = keel.emit(first).join();
        Receipt r2 = keel.emit(again).join();
        keel.process();
        assertThat(r1.duplicate()).isFalse();
        assertThat(r2.duplicate()).isTrue();
        assertThat(r2.eventId()).isEqualTo(first.id());
        assertThat(seen).containsExactly("p1");
        assertThat(keel.stats().duplicates()).isEqualTo(1);
    }

    @Test
    void shouldAcceptARepeatedSourceAndIdOnce() {
        List<Object> seen = new CopyOnWriteArrayList<>();
        keel.on("payment.*", Object.class, d -> seen.add(d.data()));
        Event<String> e = Event.builder("payment.received", "x")
                .id("evt-1")
                .source("/bank")
                .build();
        keel.emit(e).join();
        Receipt again = keel.emit(e).join();
        Receipt otherSource = keel.emit(e.toBuilder().source("/other").build()).join();
        keel.process();
        assertThat(again.duplicate()).isTrue();
        assertThat(otherSource.duplicate()).isFalse();
        assertThat(seen).hasSize(2);
    }

    @Test
    void shouldGiveNewSubscriptionsOnlyEventsEmittedAfterThem() {
        keel.emit("order.created", "o-1", 1).join();
        List<Object> seen = new ArrayList<>();
        keel.on("order.created", Object.class, d -> seen.add(d.data()));
        keel.emit("order.created", "o-2", 2).join();
        keel.process();
        assertThat(seen).containsExactly(2);
    }

    @Test
    void shouldStopDeliveringToARemovedSubscription() {
        List<Object> seen = new ArrayList<>();
        Subscription s = keel.on("order.created", Object.class, d -> seen.add(d.data()));
        keel.emit("order.created", "o-1", 1).join();
        keel.process();
        assertThat(keel.unsubscribe(s.name())).isTrue();
        keel.emit("order.created", "o-2", 2).join();
        keel.process();
        assertThat(seen).containsExactly(1);
        assertThat(keel.unsubscribe(s.name())).isFalse();
    }

    @Test
    void shouldCarryCausationCorrelationAndDepthIntoEventsEmittedByHandlers() {
        List<Event<?>> followUps = new ArrayList<>();
        keel.on(
                "order.created",
                Object.class,
                d -> keel.emit("payment.requested", d.event().partitionKey(), 1));
        keel.on("payment.requested", Object.class, d -> followUps.add(d.event()));
        Event<String> origin =
                Event.builder("order.created", "x").key("o-1").tenant("acme").build();
        keel.emit(origin).join();
        keel.process();
        assertThat(followUps).singleElement().satisfies(e -> {
            assertThat(e.causationId()).isEqualTo(origin.id());
            assertThat(e.correlationId()).isEqualTo(origin.id());
            assertThat(e.depth()).isEqualTo(1);
            assertThat(e.tenant()).isEqualTo("acme");
        });
    }

    @Test
    void shouldKeepEmitOrderForOneKey() {
        List<Integer> seen = new ArrayList<>();
        keel.on("counter.incremented", Integer.class, d -> seen.add(d.data()));
        for (int i = 0; i < 1000; i++) {
            keel.emit("counter.incremented", "c-1", i).join();
        }
        keel.process();
        assertThat(seen).hasSize(1000).isSorted();
    }
}
