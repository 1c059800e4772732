package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.redis.LocalRedis;
import dev.keel.redis.RedisStreamCensus;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Event streams counted across instances: {@code /v1/stats} on any instance shows every live instance's streams by
 * type pattern; an instance that closes takes its own out at once, and a dead one's expire by their time to live.
 */
class StreamCensusTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private KeelServer server(String name, String redisUrl) {
        Keel keel = Keel.builder()
                .lanes(4)
                .journal(JdbcJournal.sqlite(dir.resolve(name + ".db")))
                .build();
        KeelServer s = KeelServer.builder(keel)
                .port(0)
                .streamCensus(
                        RedisStreamCensus.connect(redisUrl, "census", Duration.ofSeconds(3), null),
                        Duration.ofMillis(200))
                .build();
        keel.start();
        return s.start();
    }

    private static JsonNode across(KeelServer s) throws Exception {
        return JSON.readTree(
                        new Requests(s).send("GET", "/v1/stats", null, null).body())
                .path("streamsAcrossInstances");
    }

    @Test
    void shouldCountEveryInstancesStreamsByTypeAndForgetADeadInstanceAfterItsTimeToLive() throws Exception {
        List<SseClient> streams = new ArrayList<>();
        try (LocalRedis redis = LocalRedis.start();
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<String, String> cli = client.connect()) {
            KeelServer a = server("a", redis.url());
            KeelServer b = server("b", redis.url());
            try {
                streams.add(SseClient.connect(a.port(), "/v1/stream?types=order.*"));
                streams.add(SseClient.connect(a.port(), "/v1/stream?types=order.*"));
                streams.add(SseClient.connect(b.port(), "/v1/stream?types=invoice.paid,invoice.void"));
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                    JsonNode census = across(b);
                    assertThat(census.path("instances").asInt()).isEqualTo(2);
                    assertThat(census.path("total").asInt()).isEqualTo(3);
                    assertThat(census.path("byTypes").path("order.*").asInt()).isEqualTo(2);
                    assertThat(census.path("byTypes")
                                    .path("invoice.paid,invoice.void")
                                    .asInt())
                            .isEqualTo(1);
                });

                // An instance that died: its counts are there until their time to live runs out.
                cli.sync().hset("{census}:streams:dead", Map.of("\u0000order.*", "5"));
                cli.sync().pexpire("{census}:streams:dead", 1_500);
                cli.sync().zadd("{census}:streams:instances", System.currentTimeMillis() + 1_500, "dead");
                assertThat(across(a).path("byTypes").path("order.*").asInt()).isEqualTo(7);
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(
                                across(a).path("byTypes").path("order.*").asInt())
                        .isEqualTo(2));

                // An instance that closes takes its streams out at once.
                b.close();
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                    JsonNode census = across(a);
                    assertThat(census.path("instances").asInt()).isEqualTo(1);
                    assertThat(census.path("total").asInt()).isEqualTo(2);
                });
            } finally {
                for (SseClient s : streams) {
                    s.close();
                }
                a.close();
                b.close();
            }
        }
    }
}
