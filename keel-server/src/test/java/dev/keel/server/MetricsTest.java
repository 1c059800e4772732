package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@code /metrics} right after start, before any event: JVM, process and Keel's own meters, each explained. */
class MetricsTest {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*})? .*$");

    private KeelServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void shouldHaveSamplesWithHelpTextFromTheStart() throws Exception {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Keel keel = Keel.builder().meterRegistry(prometheus).build();
        server = KeelServer.builder(keel)
                .port(0)
                .prometheus(prometheus)
                .allowPrivateWebhookTargets(true)
                .build();
        keel.start();
        server.start();
        // A webhook subscription brings the per-subscription gauges: lag, pending, dead letters, circuit state.
        HttpResponse<String> put = new Requests(server)
                .send(
                        "PUT",
                        "/v1/subscriptions/ledger",
                        "application/json",
                        "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:9/hook\"}}");
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);

        String scrape = new Requests(server).send("GET", "/metrics", null, null).body();

        Set<String> families = new HashSet<>();
        Set<String> explained = new HashSet<>();
        for (String line : scrape.split("\n")) {
            if (line.startsWith("# HELP ")) {
                String[] parts = line.substring(7).split(" ", 2);
                assertThat(parts).as("HELP without text: " + line).hasSize(2);
                assertThat(parts[1].isBlank()).as("HELP without text: " + line).isFalse();
                explained.add(parts[0]);
            } else if (!line.startsWith("#") && !line.isBlank()) {
                Matcher m = SAMPLE.matcher(line);
                assertThat(m.matches()).as(line).isTrue();
                families.add(m.group(1));
            }
        }
        assertThat(families)
                .contains(
                        "jvm_memory_used_bytes",
                        "jvm_threads_live_threads",
                        "process_cpu_usage",
                        "process_uptime_seconds",
                        "keel_subscriptions",
                        "keel_lanes",
                        "keel_lane_lag",
                        "keel_pending",
                        "keel_dead_letters",
                        "keel_circuit_state");
        for (String family : families) {
            boolean helped = explained.stream().anyMatch(h -> family.equals(h) || family.startsWith(h + "_"));
            assertThat(helped).as("no HELP for " + family).isTrue();
        }
        assertThat(scrape).contains("keel_subscriptions 1.0").contains("keel_lanes{state=\"total\"} 8.0");
    }
}
