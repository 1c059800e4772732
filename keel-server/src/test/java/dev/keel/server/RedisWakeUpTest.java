package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.ComponentHealth;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.jdbc.PostgresServer;
import dev.keel.redis.LocalRedis;
import dev.keel.redis.RedisAppendNotices;
import dev.keel.redis.RedisJournal;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Redis beside another engine (wake-ups) and as the engine (health): streams on one instance see another's
 * ingest through a notice; a Redis that is away degrades the wake-ups without touching ingest, and makes a server
 * whose journal it is not ready.
 */
class RedisWakeUpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static String event(String id, String key) {
        return "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/t\",\"type\":\"tick\",\"partitionkey\":\""
                + key + "\",\"data\":{\"n\":1}}";
    }

    private static HttpResponse<String> post(KeelServer s, String id) throws Exception {
        return new Requests(s).send("POST", "/v1/events", CloudEventReader.STRUCTURED, event(id, "k-" + id));
    }

    private static JsonNode ready(KeelServer s, int status) throws Exception {
        HttpResponse<String> r = new Requests(s).send("GET", "/health/ready", null, null);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }

    @Test
    void shouldWakeAnotherInstancesStreamThroughARedisNotice() throws Exception {
        try (PostgresServer postgres = PostgresServer.start();
                LocalRedis redis = LocalRedis.start()) {
            String url = postgres.newDatabase();
            SimpleMeterRegistry metersOfB = new SimpleMeterRegistry();
            KeelServer a = server(url, postgres.user(), RedisAppendNotices.connect(redis.url(), "wake", null));
            KeelServer b = server(url, postgres.user(), RedisAppendNotices.connect(redis.url(), "wake", metersOfB));
            try (SseClient stream = SseClient.connect(b.port(), "/v1/stream?types=tick")) {
                assertThat(stream.status()).isEqualTo(200);
                await().atMost(Duration.ofSeconds(20)).until(() -> ready(b, 200)
                        .path("components")
                        .path("redis-notices")
                        .path("status")
                        .asText()
                        .equals("HEALTHY"));
                assertThat(post(a, "e-1").statusCode()).isEqualTo(202);
                SseClient.Frame f = stream.next(Duration.ofSeconds(20));
                assertThat(f).isNotNull();
                assertThat(JSON.readTree(f.data()).get("id").asText()).isEqualTo("e-1");
                // It came with a notice from a, not only by b's safety-net poll.
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> metersOfB
                                        .get("keel.redis.notices")
                                        .tag("direction", "received")
                                        .counter()
                                        .count()
                                >= 1);
            } finally {
                a.close();
                b.close();
            }
        }
    }

    private static KeelServer server(String url, String user, RedisAppendNotices notices) {
        Keel keel = Keel.builder()
                .lanes(4)
                .leaseDuration(Duration.ofSeconds(2))
                .journal(JdbcJournal.postgres(url, user, null))
                .appendNotices(notices)
                .build();
        KeelServer s = KeelServer.builder(keel).port(0).healthCheck(notices).build();
        keel.start();
        return s.start();
    }

    @Test
    void shouldKeepIngestingOnSqliteWhileTheWakeUpRedisIsAwayAndShowItDegraded() throws Exception {
        try (LocalRedis redis = LocalRedis.start()) {
            RedisAppendNotices notices = RedisAppendNotices.connect(redis.url(), "deg", null);
            Keel keel = Keel.builder()
                    .lanes(4)
                    .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                    .appendNotices(notices)
                    .build();
            KeelServer s = KeelServer.builder(keel).port(0).healthCheck(notices).build();
            keel.start();
            s.start();
            try {
                await().atMost(Duration.ofSeconds(20))
                        .until(() -> notices.check().status() == ComponentHealth.Status.HEALTHY);
                assertThat(ready(s, 200).get("status").asText()).isEqualTo("UP");
                redis.kill();
                for (int i = 0; i < 50; i++) {
                    assertThat(post(s, "down-" + i).statusCode()).isEqualTo(202);
                }
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> notices.check().status() == ComponentHealth.Status.DEGRADED
                                && notices.check().reason().contains("unreachable"));
                JsonNode health = ready(s, 200);
                assertThat(health.get("status").asText()).isEqualTo("DEGRADED");
                assertThat(health.at("/components/redis-notices/reason").asText())
                        .contains("unreachable");
                redis.restart();
                await().atMost(Duration.ofSeconds(60))
                        .until(() -> ready(s, 200).get("status").asText().equals("UP"));
                assertThat(keel.logAccess().head(0)
                                + keel.logAccess().head(1)
                                + keel.logAccess().head(2)
                                + keel.logAccess().head(3))
                        .isEqualTo(50);
            } finally {
                s.close();
            }
        }
    }

    @Test
    void shouldNotBeReadyWhileTheRedisJournalIsAway() throws Exception {
        try (LocalRedis redis = LocalRedis.start()) {
            RedisJournal journal = RedisJournal.builder()
                    .url(redis.url())
                    .prefix("ready")
                    .timeout(Duration.ofSeconds(1))
                    .pingInterval(Duration.ofMillis(200))
                    .build();
            Keel keel = Keel.builder().lanes(4).journal(journal).build();
            KeelServer s = KeelServer.builder(keel).port(0).healthCheck(journal).build();
            keel.start();
            s.start();
            try {
                assertThat(ready(s, 200).at("/components/redis/status").asText())
                        .isEqualTo("HEALTHY");
                redis.kill();
                await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                    JsonNode problem = ready(s, 503);
                    assertThat(problem.get("detail").asText()).contains("Redis at 127.0.0.1");
                });
                assertThat(post(s, "while-down").statusCode()).isEqualTo(503);
                redis.restart();
                await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> ready(s, 200));
                assertThat(post(s, "after").statusCode()).isEqualTo(202);
            } finally {
                s.close();
            }
        }
    }
}
