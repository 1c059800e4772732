package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.KeelMeter;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class ObservabilityTest {

    @Test
    void shouldCountDeliveriesByOutcomeAndReportLagAndDeadLetters() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Keel keel = Keel.builder().lanes(2).meterRegistry(registry).build()) {
            keel.subscribe(Subscription.builder("billing")
                    .types("order.*")
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Integer.class, d -> {
                        if (d.data() < 0) {
                            throw new IOException("negative");
                        }
                    })
                    .build());
            keel.emit("order.created", "a", 1).join();
            keel.emit("order.created", "b", 2).join();
            keel.emit("order.created", "c", -1).join();
            assertThat(registry.get(KeelMeter.LANE_LAG.meterName())
                            .tag("subscription", "billing")
                            .gauges())
                    .anySatisfy(g -> assertThat(g.value()).isPositive());
            keel.process();

            assertThat(registry.get(KeelMeter.EVENTS_EMITTED.meterName())
                            .tag("type", "order.created")
                            .counter()
                            .count())
                    .isEqualTo(3);
            assertThat(registry.get(KeelMeter.DELIVERIES.meterName())
                            .tags("subscription", "billing", "outcome", "success")
                            .counter()
                            .count())
                    .isEqualTo(2);
            assertThat(registry.get(KeelMeter.DELIVERIES.meterName())
                            .tags("subscription", "billing", "outcome", "dead_letter")
                            .counter()
                            .count())
                    .isEqualTo(1);
            assertThat(registry.get(KeelMeter.DELIVERY_DURATION.meterName())
                            .tag("subscription", "billing")
                            .timer()
                            .count())
                    .isEqualTo(3);
            assertThat(registry.get(KeelMeter.DEAD_LETTERS.meterName())
                            .tag("subscription", "billing")
                            .gauge()
                            .value())
                    .isEqualTo(1);
            assertThat(registry.get(KeelMeter.LANE_LAG.meterName())
                            .tag("subscription", "billing")
                            .gauges())
                    .allSatisfy(g -> assertThat(g.value()).isZero());
        }
    }

    @Test
    void shouldTimeEveryAppendUntilItIsStoredOncePerEmitAndOncePerBatch() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Keel keel = Keel.builder().lanes(2).meterRegistry(registry).build()) {
            keel.emit("order.created", "a", 1).join();
            keel.emit("order.created", "b", 2).join();
            keel.emitBatch(List.of(
                            dev.keel.Event.builder("order.paid", 3).key("a").build(),
                            dev.keel.Event.builder("order.paid", 4).key("b").build(),
                            dev.keel.Event.builder("order.paid", 5).key("c").build()))
                    .join();

            io.micrometer.core.instrument.Timer stored = registry.get(KeelMeter.JOURNAL_APPEND.meterName())
                    .tag("outcome", "stored")
                    .timer();
            assertThat(stored.count()).isEqualTo(3); // two emits and one batch
            assertThat(registry.get(KeelMeter.JOURNAL_APPEND.meterName())
                            .tag("outcome", "failed")
                            .timer()
                            .count())
                    .isZero();
        }
    }

    @Test
    void shouldReportCircuitStateAsAGauge() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        io.github.resilience4j.circuitbreaker.CircuitBreaker breaker =
                io.github.resilience4j.circuitbreaker.CircuitBreaker.ofDefaults("gateway");
        try (Keel keel = Keel.builder().meterRegistry(registry).build()) {
            keel.subscribe(Subscription.builder("payments")
                    .types("pay.*")
                    .use(dev.keel.Middleware.circuitBreaker(breaker))
                    .handler(Object.class, d -> {})
                    .build());
            var gauge = registry.get(KeelMeter.CIRCUIT_STATE.meterName())
                    .tags("subscription", "payments", "breaker", "gateway")
                    .gauge();
            assertThat(gauge.value()).isZero();
            breaker.transitionToOpenState();
            assertThat(gauge.value()).isEqualTo(1);
            breaker.transitionToHalfOpenState();
            assertThat(gauge.value()).isEqualTo(2);
        }
    }

    @Test
    void shouldLinkConsumerSpansToTheProducerThroughTraceparent() {
        InMemorySpanExporter spans = InMemorySpanExporter.create();
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        try (Keel keel = Keel.builder().openTelemetry(otel).build()) {
            keel.on("order.created", Object.class, d -> keel.emit("invoice.requested", "o-1", 1));
            keel.on("invoice.requested", Object.class, d -> {});
            keel.emit("order.created", "o-1", 1).join();
            keel.process();
        }
        List<SpanData> all = spans.getFinishedSpanItems();
        SpanData emit = find(all, "emit order.created");
        SpanData deliver = find(all, "deliver order.created");
        SpanData followUp = find(all, "emit invoice.requested");
        SpanData deliverFollowUp = find(all, "deliver invoice.requested");
        assertThat(emit.getKind()).isEqualTo(SpanKind.PRODUCER);
        assertThat(deliver.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(deliver.getParentSpanId()).isEqualTo(emit.getSpanId());
        assertThat(deliver.getLinks())
                .anySatisfy(l -> assertThat(l.getSpanContext().getSpanId()).isEqualTo(emit.getSpanId()));
        assertThat(followUp.getParentSpanId()).isEqualTo(deliver.getSpanId());
        assertThat(deliverFollowUp.getTraceId()).isEqualTo(emit.getTraceId());
    }

    private static SpanData find(List<SpanData> spans, String name) {
        return spans.stream()
                .filter(s -> s.getName().equals(name))
                .findFirst()
                .orElseThrow(() -> new AssertionError("no span named '" + name + "' in " + spans));
    }
}
