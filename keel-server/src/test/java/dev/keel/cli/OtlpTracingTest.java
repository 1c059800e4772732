package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.keel.Keel;
import dev.keel.Subscription;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code KEEL_OTLP_ENDPOINT}: the runtime's spans reach an OTLP/HTTP collector; a bad URL is refused by name. */
class OtlpTracingTest {
    /** A request the collector received. */
    record Export(String path, String contentType, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.ISO_8859_1);
        }
    }

    private final List<Export> exports = new CopyOnWriteArrayList<>();
    private HttpServer collector;

    @BeforeEach
    void startCollector() throws Exception {
        // A collector's OTLP/HTTP receiver on loopback: records each export and accepts it (200, empty response).
        collector = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        collector.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        collector.createContext("/", exchange -> {
            try (exchange) {
                exports.add(new Export(
                        exchange.getRequestURI().getPath(),
                        exchange.getRequestHeaders().getFirst("Content-Type"),
                        exchange.getRequestBody().readAllBytes()));
                exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
                exchange.sendResponseHeaders(200, -1);
            }
        });
        collector.start();
    }

    @AfterEach
    void stopCollector() {
        collector.stop(0);
    }

    @Test
    void shouldSendTheSpansOfAnEmitAndItsDeliveryToTheCollector() {
        String endpoint = "http://127.0.0.1:" + collector.getAddress().getPort();
        OtlpTracing tracing = OtlpTracing.fromEnvironment(
                        Map.of(OtlpTracing.ENDPOINT, endpoint, OtlpTracing.SERVICE_NAME, "keel-test"))
                .orElseThrow();
        assertThat(tracing.endpoint()).isEqualTo(endpoint + "/v1/traces");
        List<String> delivered = new CopyOnWriteArrayList<>();
        Keel keel = Keel.builder()
                .openTelemetry(tracing.openTelemetry())
                .subscription(Subscription.builder("audit")
                        .types("order.*")
                        .handler(Object.class, d -> delivered.add(d.event().id()))
                        .build())
                .build()
                .start();
        try {
            keel.emit("order.created", "o-1", Map.of("total", 12)).join();
            await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 1);
        } finally {
            keel.close(Duration.ofSeconds(5));
            tracing.close(); // sends the batch
        }

        await().atMost(Duration.ofSeconds(10))
                .until(() -> exports.stream().anyMatch(e -> e.text().contains("deliver order.created")));
        assertThat(exports).allSatisfy(e -> {
            assertThat(e.path()).isEqualTo("/v1/traces");
            assertThat(e.contentType()).isEqualTo("application/x-protobuf");
        });
        String sent = String.join("\n", exports.stream().map(Export::text).toList());
        assertThat(sent).contains("emit order.created", "deliver order.created", "keel-test", "audit");
    }

    @Test
    void shouldKeepAPathThatAlreadyNamesTheTracesEndpoint() {
        assertThat(OtlpTracing.tracesUrl("https://collector.example:4318/"))
                .isEqualTo("https://collector.example:4318/v1/traces");
        assertThat(OtlpTracing.tracesUrl("http://collector:4318/otlp/v1/traces"))
                .isEqualTo("http://collector:4318/otlp/v1/traces");
    }

    @Test
    void shouldBeOffWithoutTheVariable() {
        assertThat(OtlpTracing.fromEnvironment(Map.of())).isEmpty();
        assertThat(OtlpTracing.fromEnvironment(Map.of(OtlpTracing.ENDPOINT, " ")))
                .isEmpty();
    }

    @Test
    void shouldRefuseAnEndpointThatIsNotAnHttpUrlNamingTheVariable() {
        for (String bad :
                List.of("collector:4318", "ftp://collector:4318", "http://", "http://c:4318/?x=1", "ht tp://c")) {
            assertThatThrownBy(() -> OtlpTracing.fromEnvironment(Map.of(OtlpTracing.ENDPOINT, bad)))
                    .as(bad)
                    .isInstanceOf(IllegalArgumentException.class) // exit code 2, as every configuration error
                    .hasMessageContaining("KEEL_OTLP_ENDPOINT")
                    .hasMessageContaining(bad);
        }
    }
}
