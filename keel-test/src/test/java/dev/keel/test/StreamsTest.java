package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

/** Streams are Reactor Fluxes; these tests drive them with virtual time and {@code process()}. */
class StreamsTest {
    private final Keel keel = Keel.builder().lanes(2).build();

    @AfterEach
    void close() {
        keel.close();
    }

    private Runnable emit(String type, String key, Object data) {
        return () -> {
            keel.emit(type, key, data).join();
            keel.process();
        };
    }

    @Test
    void shouldFilterAndMapDeliveredEvents() {
        StepVerifier.create(keel.stream("order.*")
                        .filter(e -> !e.type().equals("order.cancelled"))
                        .map(e -> e.type() + ":" + e.data()))
                .then(emit("order.created", "o-1", 1))
                .then(emit("order.cancelled", "o-1", 2))
                .then(emit("payment.received", "o-1", 3))
                .then(emit("order.shipped", "o-1", 4))
                .expectNext("order.created:1", "order.shipped:4")
                .thenCancel()
                .verify(Duration.ofSeconds(5));
        assertThat(keel.subscriptions()).isEmpty();
    }

    @Test
    void shouldDebounceWithSampleTimeoutOnVirtualTime() {
        StepVerifier.withVirtualTime(() -> keel.stream("search.typed")
                        .map(e -> (Object) e.data())
                        .sampleTimeout(v -> reactor.core.publisher.Mono.delay(Duration.ofMillis(300))))
                .expectSubscription()
                .then(emit("search.typed", "u", "k"))
                .thenAwait(Duration.ofMillis(100))
                .then(emit("search.typed", "u", "ke"))
                .thenAwait(Duration.ofMillis(100))
                .then(emit("search.typed", "u", "keel"))
                .thenAwait(Duration.ofMillis(300))
                .expectNext("keel")
                .thenCancel()
                .verify(Duration.ofSeconds(5));
    }

    @Test
    void shouldThrottleBySamplingWithVirtualTime() {
        StepVerifier.withVirtualTime(() ->
                        keel.stream("price.changed").map(e -> (Object) e.data()).sample(Duration.ofSeconds(1)))
                .expectSubscription()
                .then(emit("price.changed", "p", 10))
                .then(emit("price.changed", "p", 11))
                .thenAwait(Duration.ofSeconds(1))
                .expectNext(11)
                .then(emit("price.changed", "p", 12))
                .thenAwait(Duration.ofSeconds(1))
                .expectNext(12)
                .thenCancel()
                .verify(Duration.ofSeconds(5));
    }

    @Test
    void shouldBatchByCountAndTimeWithVirtualTime() {
        StepVerifier.withVirtualTime(() -> keel.stream("metric.recorded")
                        .map(e -> (Object) e.data())
                        .bufferTimeout(3, Duration.ofSeconds(5)))
                .expectSubscription()
                .then(emit("metric.recorded", "m", 1))
                .then(emit("metric.recorded", "m", 2))
                .then(emit("metric.recorded", "m", 3))
                .expectNext(List.of(1, 2, 3))
                .then(emit("metric.recorded", "m", 4))
                .thenAwait(Duration.ofSeconds(5))
                .expectNext(List.of(4))
                .thenCancel()
                .verify(Duration.ofSeconds(5));
    }

    @Test
    void shouldMergeAndCombineLatestStreams() {
        Flux<Object> merged = Flux.merge(
                keel.stream("a.x").map(e -> (Object) e.data()),
                keel.stream("b.x").map(e -> (Object) e.data()));
        StepVerifier.create(merged)
                .then(emit("a.x", "k", "a1"))
                .then(emit("b.x", "k", "b1"))
                .expectNext("a1", "b1")
                .thenCancel()
                .verify(Duration.ofSeconds(5));

        Flux<String> combined = Flux.combineLatest(
                keel.stream("temp.read").map(e -> (Object) e.data()),
                keel.stream("humidity.read").map(e -> (Object) e.data()),
                (t, h) -> t + "/" + h);
        StepVerifier.create(combined)
                .then(emit("temp.read", "s", 20))
                .then(emit("humidity.read", "s", 40))
                .expectNext("20/40")
                .then(emit("temp.read", "s", 21))
                .expectNext("21/40")
                .thenCancel()
                .verify(Duration.ofSeconds(5));
    }

    @Test
    void shouldHoldEventsWhileTheSubscriberRequestsNothing() {
        StepVerifier.create(keel.stream("a.b").map(e -> (Object) e.data()), 0)
                .then(emit("a.b", "k", 1))
                .then(emit("a.b", "k", 2))
                .expectNoEvent(Duration.ofMillis(50))
                .thenRequest(1)
                .then(keel::process)
                .expectNext(1)
                .thenRequest(1)
                .then(keel::process)
                .expectNext(2)
                .thenCancel()
                .verify(Duration.ofSeconds(5));
    }

    @Test
    void shouldEmitEveryEventOfAPublisherInOrder() {
        List<Object> seen = new java.util.ArrayList<>();
        keel.on("n.*", Integer.class, d -> seen.add(d.data()));
        long count = keel.emitAll(Flux.range(0, 500)
                        .map(i -> Event.builder("n.x", i).key("k").build()))
                .join();
        keel.process();
        assertThat(count).isEqualTo(500);
        assertThat(seen).hasSize(500);
        assertThat(seen)
                .isEqualTo(java.util.stream.IntStream.range(0, 500).boxed().toList());
    }
}
