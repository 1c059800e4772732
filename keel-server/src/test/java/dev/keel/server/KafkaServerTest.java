package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.kafka.KafkaBroker;
import dev.keel.kafka.KafkaJournal;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code keel serve}'s routes on Kafka, unchanged: events ingested on either of two servers sharing a topic,
 * streamed from one and resumed on the other by position, and an event over the record limit refused with 413.
 */
class KafkaServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(20);

    private static KafkaBroker broker;
    private final List<KeelServer> servers = new ArrayList<>();

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() throws Exception {
        broker.close();
    }

    @AfterEach
    void stop() {
        servers.forEach(KeelServer::close);
    }

    private KeelServer server(String topic, int maxRecordBytes) {
        Keel keel = Keel.builder()
                .lanes(4)
                .leaseDuration(Duration.ofSeconds(2))
                .retention(Duration.ofMinutes(5))
                .journal(KafkaJournal.builder()
                        .bootstrapServers(broker.bootstrapServers())
                        .topic(topic)
                        .replicationFactor(1)
                        .maxRecordBytes(maxRecordBytes)
                        .build())
                .build();
        KeelServer s = KeelServer.builder(keel).port(0).build();
        keel.start();
        servers.add(s);
        return s.start();
    }

    private static int post(KeelServer s, String id, String key, String data) throws Exception {
        HttpResponse<String> r = new Requests(s)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"" + id
                                + "\",\"source\":\"/test\",\"type\":\"order.created\"," + "\"partitionkey\":\"" + key
                                + "\",\"data\":" + data + "}");
        return r.statusCode();
    }

    @Test
    void shouldIngestOnEitherServerAndResumeAStreamOnTheOther() throws Exception {
        KeelServer a = server("serve-streams", 1024 * 1024);
        KeelServer b = server("serve-streams", 1024 * 1024);
        int total = 200;
        SseClient first = SseClient.connect(a.port(), "/v1/stream?types=order.*");
        assertThat(first.comment(WAIT)).isEqualTo("stream open");
        for (int i = 0; i < total; i++) {
            assertThat(post(i % 2 == 0 ? a : b, "o-" + i, "k" + (i % 7), Integer.toString(i)))
                    .isEqualTo(202);
        }
        Set<String> seen = new HashSet<>();
        String last = null;
        for (int i = 0; i < total / 2; i++) {
            SseClient.Frame f = first.next(WAIT);
            assertThat(f).as("frame %d on the first server", i).isNotNull();
            assertThat(f.event()).as(String.valueOf(f.data())).isEqualTo("message");
            assertThat(JSON.readTree(f.data()).has("id"))
                    .as("%s %s", f.id(), f.data())
                    .isTrue();
            seen.add(JSON.readTree(f.data()).get("id").asText());
            last = f.id();
        }
        first.close();
        // The position is the log's, not a server's memory: the other server resumes from it.
        try (SseClient second = SseClient.connect(b.port(), "/v1/stream?types=order.*", "Last-Event-ID", last)) {
            assertThat(second.status()).isEqualTo(200);
            List<String> duplicates = new ArrayList<>();
            while (seen.size() < total) {
                SseClient.Frame f = second.next(WAIT);
                assertThat(f)
                        .as("frame after %d seen, on the second server", seen.size())
                        .isNotNull();
                assertThat(f.event()).as(String.valueOf(f.data())).isEqualTo("message");
                String id = JSON.readTree(f.data()).get("id").asText();
                if (!seen.add(id)) {
                    duplicates.add(id);
                }
            }
            assertThat(duplicates).isEmpty();
        }
        assertThat(seen).hasSize(total);
    }

    @Test
    void shouldAnswer413ForAnEventOverTheRecordLimit() throws Exception {
        KeelServer s = server("serve-limits", 4096);
        String big = "\"" + "x".repeat(10_000) + "\"";
        HttpResponse<String> r = new Requests(s)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"big\",\"source\":\"/test\",\"type\":\"order.created\","
                                + "\"data\":" + big + "}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(413);
        assertThat(r.body()).contains("payload-too-large");
        assertThat(post(s, "small", "k", "1")).isEqualTo(202);
    }
}
