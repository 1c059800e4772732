package dev.keel.examples.checkout;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One trace runs from the place-order command through every saga step to the order's completion. */
class CheckoutTraceTest {
    @TempDir
    Path dir;

    @Test
    void aCheckoutIsOneTraceFromCommandToCompletion() throws Exception {
        InMemorySpanExporter spans = InMemorySpanExporter.create();
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        JdbcJournal journal = JdbcJournal.sqlite(dir.resolve("checkout.db"));
        try (Keel keel =
                Keel.builder().lanes(4).journal(journal).openTelemetry(otel).build()) {
            Checkout checkout =
                    Checkout.on(keel, journal.eventStore(), Duration.ofMinutes(1), new SimpleMeterRegistry(), otel);
            keel.start();
            checkout.sourcing()
                    .send("common", new Inventory.Restock("common", 5))
                    .get(10, TimeUnit.SECONDS);
            spans.reset();

            checkout.sourcing()
                    .send("t-1", new Order.Place("t-1", "c", "common", 1, 500, "visa"))
                    .get(10, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!(checkout.step("t-1") instanceof CheckoutSaga.Completed)) {
                assertThat(System.nanoTime()).isLessThan(deadline);
                Thread.sleep(20);
            }
            // The last step's span ends just after its state is stored: wait for it, within the same bound.
            while (spans.getFinishedSpanItems().stream()
                    .noneMatch(sp -> sp.getName().equals("command checkout Completed"))) {
                assertThat(System.nanoTime()).isLessThan(deadline);
                Thread.sleep(10);
            }
            checkout.sourcing().close();
        }
        List<SpanData> all = spans.getFinishedSpanItems();
        SpanData place = all.stream()
                .filter(s -> s.getName().equals("command order Place"))
                .findFirst()
                .orElseThrow();
        Set<String> inTrace = all.stream()
                .filter(s -> s.getTraceId().equals(place.getTraceId()))
                .map(SpanData::getName)
                .collect(Collectors.toSet());
        assertThat(inTrace)
                .contains(
                        "decide",
                        "append",
                        "emit order.placed",
                        "deliver order.placed",
                        "command checkout Placed",
                        "deliver keel.es.command",
                        "command payment Charge",
                        "command checkout Charged",
                        "command inventory Reserve",
                        "command shipping Ship",
                        "command order Complete",
                        "command checkout Completed");
    }
}
