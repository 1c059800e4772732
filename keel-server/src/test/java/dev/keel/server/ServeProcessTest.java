package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code keel serve} as a process, stopped by signals: SIGTERM drains and exits 0, SIGKILL loses nothing that
 * was answered 202, and a restart on the same data directory delivers the rest.
 */
class ServeProcessTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private Receiver receiver;
    private final Set<String> received = ConcurrentHashMap.newKeySet();
    private final HttpClient http = HttpClient.newHttpClient();
    private Process process;

    @BeforeEach
    void receiver() throws Exception {
        receiver = new Receiver();
        receiver.behave((exchange, body) -> {
            received.add(JSON.readTree(body).get("id").asText());
            Receiver.respond(exchange, 204, "");
        });
        Files.writeString(dir.resolve("keel.yaml"), """
                subscriptions:
                  audit:
                    types: ["**"]
                    webhook: {url: "%s"}
                    retry: {maxAttempts: 50, initialDelay: 50ms, maxDelay: 1s}
                """.formatted(receiver.url()));
    }

    @AfterEach
    void stop() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
        }
        receiver.close();
    }

    /** Starts {@code keel serve} on a free port; returns the port once it listens. */
    private int serve(String log) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path out = dir.resolve(log);
        process = new ProcessBuilder(
                        java,
                        "--enable-native-access=ALL-UNNAMED",
                        "-Xmx512m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        "dev.keel.cli.KeelCommand",
                        "serve",
                        "--config",
                        dir.resolve("keel.yaml").toString(),
                        "--port",
                        "0",
                        "--data-dir",
                        dir.resolve("data").toString())
                .redirectErrorStream(true)
                .redirectOutput(out.toFile())
                .start();
        return ServeOutput.awaitPort(process, out, Duration.ofSeconds(60));
    }

    private HttpResponse<String> post(int port, String contentType, String body) throws Exception {
        return http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/events"))
                        .header("Content-Type", contentType)
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void shouldDrainOnSigtermAndDeliverEverythingAcceptedAfterARestart() throws Exception {
        int port = serve("first.out");
        Set<String> accepted = new java.util.HashSet<>();
        for (int batch = 0; batch < 20; batch++) {
            StringBuilder body = new StringBuilder("[");
            for (int i = 0; i < 50; i++) {
                body.append(i == 0 ? "" : ",")
                        .append("{\"specversion\":\"1.0\",\"id\":\"t")
                        .append(batch)
                        .append('-')
                        .append(i)
                        .append("\",\"source\":\"/test\",\"type\":\"order.created\",\"partitionkey\":\"k")
                        .append(i % 7)
                        .append("\",\"data\":{}}");
            }
            HttpResponse<String> r = post(
                    port, "application/cloudevents-batch+json", body.append(']').toString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
            JSON.readTree(r.body()).get("accepted").forEach(id -> accepted.add(id.asText()));
        }
        process.destroy(); // SIGTERM
        assertThat(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue())
                .as(ServeOutput.read(dir.resolve("first.out")))
                .isZero();

        serve("second.out");
        await().atMost(Duration.ofSeconds(60)).until(() -> received.containsAll(accepted));
        assertThat(accepted).hasSize(1_000);
        process.destroy();
        assertThat(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).isZero();
    }

    @Test
    void shouldLoseNothingAnswered202WhenKilled() throws Exception {
        int port = serve("first.out");
        Set<String> accepted = ConcurrentHashMap.newKeySet();
        AtomicInteger next = new AtomicInteger();
        List<Thread> clients = new ArrayList<>();
        for (int c = 0; c < 4; c++) {
            clients.add(Thread.ofVirtual().start(() -> {
                while (true) {
                    String id = "e" + next.incrementAndGet();
                    try {
                        HttpResponse<String> r = post(
                                port,
                                CloudEventReader.STRUCTURED,
                                "{\"specversion\":\"1.0\",\"id\":\"" + id
                                        + "\",\"source\":\"/test\",\"type\":\"order.created\",\"data\":{}}");
                        if (r.statusCode() == 202) {
                            JsonNode answer = JSON.readTree(r.body());
                            accepted.add(answer.get("accepted").get(0).asText());
                        }
                    } catch (Exception e) {
                        return; // the server is gone
                    }
                }
            }));
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> accepted.size() >= 500);
        process.destroyForcibly(); // SIGKILL, while requests are in flight
        assertThat(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).isEqualTo(137);
        for (Thread t : clients) {
            t.join(Duration.ofSeconds(30));
        }
        Set<String> acknowledged = Set.copyOf(accepted);

        serve("second.out");
        await().atMost(Duration.ofSeconds(60)).until(() -> received.containsAll(acknowledged));
    }
}
