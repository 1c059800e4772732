package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A subscription's counters go on across its replacement and across a restart; they never start again at 0. */
class SubscriptionCountersTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern DELIVERED =
            Pattern.compile("keel_deliveries_total\\{[^}]*outcome=\"success\"[^}]*} ([0-9.E]+)");

    @TempDir
    Path dir;

    private Receiver receiver;
    private KeelServer server;
    private PrometheusMeterRegistry prometheus;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        if (receiver != null) {
            receiver.close();
        }
    }

    private void startServer() {
        prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Keel keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .meterRegistry(prometheus)
                .lanes(2)
                .build();
        server = KeelServer.builder(keel)
                .port(0)
                .prometheus(prometheus)
                .allowPrivateWebhookTargets(true)
                .build();
        keel.start();
        server.start();
    }

    private HttpResponse<String> put(String body) throws Exception {
        return new Requests(server).send("PUT", "/v1/subscriptions/ledger", "application/json", body);
    }

    private void emit(int n, int from) throws Exception {
        for (int i = from; i < from + n; i++) {
            HttpResponse<String> r = new Requests(server)
                    .send(
                            "POST",
                            "/v1/events",
                            CloudEventReader.STRUCTURED,
                            "{\"specversion\":\"1.0\",\"id\":\"e-" + i
                                    + "\",\"source\":\"/shop\",\"type\":\"order.created\"," + "\"partitionkey\":\"k" + i
                                    + "\",\"data\":{}}");
            assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
        }
    }

    private long delivered() throws Exception {
        JsonNode stats = JSON.readTree(
                new Requests(server).send("GET", "/v1/stats", null, null).body());
        return stats.at("/subscriptions/0/delivered").asLong();
    }

    private double scraped() throws Exception {
        String scrape = new Requests(server).send("GET", "/metrics", null, null).body();
        Matcher m = DELIVERED.matcher(scrape);
        double total = 0;
        while (m.find()) {
            total += Double.parseDouble(m.group(1));
        }
        return total;
    }

    @Test
    void shouldKeepCountingAcrossReplacementAndRestart() throws Exception {
        receiver = new Receiver();
        startServer();
        String hook = "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"}";
        assertThat(put(hook + "}").statusCode()).isEqualTo(201);
        emit(5, 0);
        await().atMost(Duration.ofSeconds(20)).until(() -> delivered() == 5);
        assertThat(scraped()).isEqualTo(5.0);

        // Replaced: its position and counters go on.
        assertThat(put(hook + ",\"retry\":{\"maxAttempts\":9}}").statusCode()).isEqualTo(200);
        assertThat(delivered()).isEqualTo(5);
        assertThat(scraped()).isEqualTo(5.0);
        emit(3, 5);
        await().atMost(Duration.ofSeconds(20)).until(() -> delivered() == 8);
        assertThat(scraped()).isEqualTo(8.0);

        // Restarted on the same journal: the totals are the journal's.
        server.close();
        startServer();
        assertThat(delivered()).isEqualTo(8);
        emit(2, 8);
        await().atMost(Duration.ofSeconds(20)).until(() -> delivered() == 10);
        assertThat(receiver.calls()).hasSize(10);
    }
}
