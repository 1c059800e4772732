package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random requests to {@code POST /v1/events}: bodies mutated from valid events, random bytes, random
 * headers and content types. Never a 5xx, every refusal a problem, and the runtime holds exactly the events
 * answered 202. Reproduce a run with {@code -Dkeel.seed=N}; more requests with {@code -Dkeel.fuzz.requests}.
 */
class IngestFuzzTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] CONTENT_TYPES = {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "application/cloudevents+json; charset=utf-8",
        "APPLICATION/CLOUDEVENTS+JSON",
        "multipart/form-data; boundary=x",
        ";;;",
        null
    };
    private static final String[] ATTRIBUTES = {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "data",
        "data_base64",
        "partitionkey",
        "idempotencykey",
        "priority",
        "deliverat",
        "traceparent",
        "correlationid"
    };
    private static final Object[] VALUES = {
        "1.0",
        "0.3",
        "",
        " ",
        "order.created",
        "Order Created",
        "a.b.c",
        "/src",
        "2026-01-31T12:00:00Z",
        "noon",
        "aGVsbG8=",
        "not base64!",
        7,
        -1,
        3.5,
        true,
        null,
        List.of(),
        List.of(1, 2),
        "x".repeat(300),
        "é\u0000\uFFFF"
    };

    @TempDir
    Path dir;

    @Test
    void shouldNeverFailWithA5xxAndStoreExactlyWhatItAccepted() throws Exception {
        long seed = Long.getLong("keel.seed", System.nanoTime());
        int requests = Integer.getInteger("keel.fuzz.requests", 400);
        SplittableRandom random = new SplittableRandom(seed);
        HttpClient http = HttpClient.newHttpClient();
        Keel keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build();
        keel.start();
        long accepted = 0;
        try (KeelServer server = KeelServer.builder(keel)
                .port(0)
                .maxBodyBytes(16 * 1024)
                .maxBatch(5)
                .build()
                .start()) {
            for (int i = 0; i < requests; i++) {
                String contentType = CONTENT_TYPES[random.nextInt(CONTENT_TYPES.length)];
                byte[] body = body(random, i);
                HttpRequest.Builder b = HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + server.port() + "/v1/events"))
                        .POST(HttpRequest.BodyPublishers.ofByteArray(body));
                if (contentType != null) {
                    b.header("Content-Type", contentType);
                }
                if (random.nextInt(4) == 0) {
                    for (String a : new String[] {"specversion", "id", "source", "type", "partitionkey"}) {
                        if (random.nextInt(5) > 0) {
                            b.header("ce-" + a, headerValue(random));
                        }
                    }
                }
                if (random.nextInt(6) == 0) {
                    b.header("Idempotency-Key", headerValue(random));
                }
                HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                String context = "seed " + seed + ", request " + i + ", " + contentType + ": "
                        + new String(body, StandardCharsets.UTF_8);
                assertThat(r.statusCode()).as(context).isLessThan(500);
                if (r.statusCode() == 202) {
                    JsonNode answer = JSON.readTree(r.body());
                    accepted += answer.get("accepted").size()
                            - (answer.has("duplicates")
                                    ? answer.get("duplicates").size()
                                    : 0);
                } else {
                    assertThat(r.statusCode()).as(context).isIn(400, 413, 415);
                    assertThat(r.headers().firstValue("Content-Type").orElse(""))
                            .as(context)
                            .startsWith(Problem.MEDIA_TYPE);
                    assertThat(JSON.readTree(r.body()).get("detail").asText())
                            .as(context)
                            .isNotBlank();
                }
            }
            assertThat(keel.stats().emitted())
                    .as("seed %d: the runtime holds exactly the events answered 202", seed)
                    .isEqualTo(accepted);
        }
    }

    /** A value the HTTP client can send in a header: printable ASCII only. */
    private static String headerValue(SplittableRandom random) {
        while (true) {
            String v = String.valueOf(VALUES[random.nextInt(VALUES.length)]);
            if (v.chars().allMatch(c -> c >= 0x20 && c < 0x7f)) {
                return v;
            }
        }
    }

    private static byte[] body(SplittableRandom random, int i) throws Exception {
        return switch (random.nextInt(5)) {
            case 0 -> {
                byte[] bytes = new byte[random.nextInt(200)];
                random.nextBytes(bytes);
                yield bytes;
            }
            case 1 -> {
                List<Object> batch = new ArrayList<>();
                int n = random.nextInt(8);
                for (int k = 0; k < n; k++) {
                    batch.add(event(random, i + "-" + k));
                }
                yield JSON.writeValueAsBytes(batch);
            }
            case 2 -> {
                byte[] valid = JSON.writeValueAsBytes(event(random, "t-" + i));
                yield java.util.Arrays.copyOf(valid, random.nextInt(valid.length + 1)); // cut short
            }
            default -> JSON.writeValueAsBytes(event(random, "e-" + i));
        };
    }

    private static java.util.Map<String, Object> event(SplittableRandom random, String id) {
        java.util.Map<String, Object> e = new java.util.LinkedHashMap<>();
        e.put("specversion", "1.0");
        e.put("id", id);
        e.put("source", "/fuzz");
        e.put("type", "order.created");
        int mutations = random.nextInt(4);
        for (int m = 0; m < mutations; m++) {
            String attribute = ATTRIBUTES[random.nextInt(ATTRIBUTES.length)];
            if (random.nextInt(4) == 0) {
                e.remove(attribute);
            } else {
                e.put(attribute, VALUES[random.nextInt(VALUES.length)]);
            }
        }
        return e;
    }
}
