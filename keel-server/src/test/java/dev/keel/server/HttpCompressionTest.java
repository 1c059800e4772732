package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Gzip both ways: request bodies decompressed within the size limit, large answers compressed, streams never. */
class HttpCompressionTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int LIMIT = 64 * 1024;

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private Keel keel;
    private KeelServer server;

    @BeforeEach
    void start() {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(2)
                .build()
                .start();
        server = KeelServer.builder(keel).port(0).maxBodyBytes(LIMIT).build().start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<byte[]> send(String method, String path, byte[] body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(
                        method,
                        body == null
                                ? HttpRequest.BodyPublishers.noBody()
                                : HttpRequest.BodyPublishers.ofByteArray(body));
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private HttpResponse<byte[]> postGzip(byte[] body) throws Exception {
        return send(
                "POST", "/v1/events", body, "Content-Type", "application/cloudevents+json", "Content-Encoding", "gzip");
    }

    private static byte[] gzip(byte[] plain) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(plain);
        }
        return out.toByteArray();
    }

    private static byte[] gunzip(byte[] compressed) throws IOException {
        try (GZIPInputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(compressed))) {
            return in.readAllBytes();
        }
    }

    private static JsonNode problem(HttpResponse<byte[]> r, int status) throws IOException {
        assertThat(r.statusCode())
                .as(new String(r.body(), StandardCharsets.UTF_8))
                .isEqualTo(status);
        assertThat(r.headers().firstValue("Content-Type"))
                .hasValueSatisfying(t -> assertThat(t).startsWith(Problem.MEDIA_TYPE));
        return JSON.readTree(r.body());
    }

    private static byte[] event(String id, String data) {
        return ("{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"order.created\","
                        + "\"data\":" + data + "}")
                .getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void shouldAcceptAGzipBodyAndStoreWhatItDecompressesTo() throws Exception {
        HttpResponse<byte[]> r = postGzip(gzip(event("e-1", "{\"sku\":\"A-1\"}")));

        assertThat(r.statusCode())
                .as(new String(r.body(), StandardCharsets.UTF_8))
                .isEqualTo(202);
        assertThat(JSON.readTree(r.body()).get("accepted").get(0).asText()).isEqualTo("e-1");
        assertThat(keel.stats().emitted()).isEqualTo(1);
    }

    @Test
    void shouldRefuseABodyThatDecompressesPastTheLimitAndStoreNothing() throws Exception {
        // 10 MiB of spaces inside a valid event compress to about 10 KiB: well under the limit until inflated.
        byte[] padding = new byte[10 * 1024 * 1024];
        Arrays.fill(padding, (byte) ' ');
        byte[] plain = (new String(event("bomb", "\"x\""), StandardCharsets.UTF_8).replace("}", "")
                        + new String(padding, StandardCharsets.US_ASCII) + "}")
                .getBytes(StandardCharsets.UTF_8);
        byte[] bomb = gzip(plain);
        assertThat(bomb.length).isLessThan(LIMIT);

        JsonNode p = problem(postGzip(bomb), 413);

        assertThat(p.get("detail").asText()).contains(String.valueOf(LIMIT)).contains("decompressed");
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldRefuseACorruptGzipBodyWith400() throws Exception {
        byte[] good = gzip(event("c-1", "{}"));
        byte[] truncated = Arrays.copyOf(good, good.length / 2);
        byte[] notGzip = event("c-2", "{}");

        assertThat(problem(postGzip(truncated), 400).get("type").asText()).endsWith("malformed-gzip");
        assertThat(problem(postGzip(notGzip), 400).get("type").asText()).endsWith("malformed-gzip");
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldRefuseAnEncodingItDoesNotReadWith415() throws Exception {
        HttpResponse<byte[]> r = send(
                "POST",
                "/v1/events",
                event("b-1", "{}"),
                "Content-Type",
                "application/cloudevents+json",
                "Content-Encoding",
                "br");

        assertThat(problem(r, 415).get("detail").asText()).contains("br").contains("gzip");
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldCompressALargeJsonAnswerForAClientThatAcceptsGzip() throws Exception {
        for (int i = 0; i < 6; i++) {
            HttpResponse<byte[]> put = send(
                    "PUT",
                    "/v1/subscriptions/hook-" + i,
                    "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:9/hook\"}}"
                            .getBytes(StandardCharsets.UTF_8),
                    "Content-Type",
                    "application/json");
            assertThat(put.statusCode()).isEqualTo(201);
        }
        HttpResponse<byte[]> plain = send("GET", "/v1/subscriptions", null);
        assertThat(plain.body().length).isGreaterThan(ResponseCompression.MIN_BYTES);
        assertThat(plain.headers().firstValue("Content-Encoding")).isEmpty();

        HttpResponse<byte[]> r = send("GET", "/v1/subscriptions", null, "Accept-Encoding", "gzip");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
        assertThat(r.headers().allValues("Vary"))
                .anySatisfy(v -> assertThat(v).containsIgnoringCase("Accept-Encoding"));
        assertThat(r.body().length).isLessThan(plain.body().length);
        assertThat(JSON.readTree(gunzip(r.body())).get("items")).hasSize(6);
    }

    @Test
    void shouldCompressTheDashboardPage() throws Exception {
        HttpResponse<byte[]> r = send("GET", "/", null, "Accept-Encoding", "gzip");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Encoding")).hasValue("gzip");
        assertThat(new String(gunzip(r.body()), StandardCharsets.UTF_8)).contains("<html");
    }

    @Test
    void shouldNotCompressASmallAnswer() throws Exception {
        HttpResponse<byte[]> r = send(
                "POST",
                "/v1/events",
                event("s-1", "{}"),
                "Content-Type",
                "application/cloudevents+json",
                "Accept-Encoding",
                "gzip");

        assertThat(r.statusCode()).isEqualTo(202);
        assertThat(r.headers().firstValue("Content-Encoding")).isEmpty();
        assertThat(JSON.readTree(r.body()).get("accepted").get(0).asText()).isEqualTo("s-1");
    }

    @Test
    void shouldDeliverStreamEventsUncompressedAndOneByOneToAClientThatAcceptsGzip() throws Exception {
        try (SseClient client =
                SseClient.connect(server.port(), "/v1/stream?types=order.*", "Accept-Encoding", "gzip")) {
            assertThat(client.status()).isEqualTo(200);
            assertThat(client.header("Content-Encoding")).isNull();
            for (int i = 0; i < 3; i++) {
                String id = "sse-" + i;
                send("POST", "/v1/events", event(id, "{}"), "Content-Type", "application/cloudevents+json");
                // Each event arrives on its own, before the next is sent: nothing holds it back in a buffer.
                SseClient.Frame frame = await().atMost(Duration.ofSeconds(10))
                        .until(
                                () -> client.next(Duration.ofMillis(100)),
                                f -> f != null && !f.event().equals("end"));
                assertThat(JSON.readTree(frame.data()).get("id").asText()).isEqualTo(id);
            }
        }
    }
}
