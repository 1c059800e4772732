package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.AccessToken.Scope;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Receivers that refuse, hang, answer slowly or answer 500 while events come in at a steady rate: the server
 * answers every POST and {@code /health/live} throughout, and once the receiver is back every event arrives,
 * in order per key. Bounded in count and time; everything on loopback.
 */
class ReceiverFaultTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TOKEN = "fault-test-token-0123456789";
    /** A request the server does not answer within this is a hang. */
    private static final Duration ANSWER_WITHIN = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;
    private final HttpClient http = HttpClient.newBuilder()
            .connectTimeout(ANSWER_WITHIN)
            .executor(java.util.concurrent.Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "fault-test-client");
                t.setDaemon(true);
                return t;
            }))
            .build();

    private void startServer() {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(8)
                .build()
                .start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(new AccessToken(TOKEN, "acme", Set.of(Scope.PRODUCE, Scope.ADMIN, Scope.CONSUME))))
                .allowPrivateWebhookTargets(true)
                .subscriptionsFile(dir.resolve("subscriptions.json"))
                .build()
                .start();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private HttpResponse<String> send(String method, String path, String contentType, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(ANSWER_WITHIN)
                .header("Authorization", "Bearer " + TOKEN)
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        // A hang fails here with HttpTimeoutException instead of blocking the test.
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private void emit(String id, String key) throws Exception {
        HttpResponse<String> r = send(
                "POST",
                "/v1/events",
                CloudEventReader.STRUCTURED,
                "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"order.created\","
                        + "\"partitionkey\":\"" + key + "\",\"data\":{\"id\":\"" + id + "\",\"key\":\"" + key + "\"}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }

    private void assertLive() throws Exception {
        HttpResponse<String> r = send("GET", "/health/live", null, null);
        assertThat(r.statusCode()).isEqualTo(200);
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Defect seen from outside: a receiver nobody listens for, four attempts each, wedged the whole server. */
    @Test
    void aReceiverNobodyListensForNeverWedgesIngestHealthOrAdmin() throws Exception {
        startServer();
        int port = freePort();
        HttpResponse<String> created = send(
                "PUT",
                "/v1/subscriptions/flaky",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:" + port + "/hook\"},"
                        + "\"retry\":{\"maxAttempts\":4,\"initialDelay\":\"100ms\",\"multiplier\":2,\"maxDelay\":\"1s\","
                        + "\"jitter\":0.1},\"timeout\":\"2s\"}");
        assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
        for (int i = 0; i < 40; i++) {
            emit("e-" + i, "k-" + (i % 5));
            assertLive();
            Thread.sleep(50);
        }
        assertThat(send("GET", "/v1/stats", null, null).statusCode()).isEqualTo(200);
        assertLive();
    }

    /** Users find dead letters, and reprocess them, by the name they gave the subscription. */
    @Test
    void deadLettersAreFoundAndReprocessedByTheNameTheUserGave() throws Exception {
        startServer();
        Receiver gone = new Receiver();
        try {
            gone.behave((exchange, body) -> Receiver.respond(exchange, 410, "no such account"));
            for (String name : List.of("gone", "also-gone")) {
                HttpResponse<String> created = send(
                        "PUT",
                        "/v1/subscriptions/" + name,
                        "application/json",
                        "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + gone.url() + "\"}}");
                assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            }
            for (int i = 0; i < 3; i++) {
                emit("e-" + i, "k-" + i);
            }
            await().atMost(Duration.ofSeconds(30))
                    .untilAsserted(() -> assertThat(JSON.readTree(send("GET", "/v1/dead-letters?limit=100", null, null)
                                            .body())
                                    .get("items"))
                            .hasSize(6));
            JsonNode mine = JSON.readTree(send("GET", "/v1/dead-letters?subscription=gone&limit=100", null, null)
                            .body())
                    .get("items");
            assertThat(mine).hasSize(3);
            for (JsonNode d : mine) {
                assertThat(d.get("subscription").asText()).isEqualTo("gone");
                assertThat(d.get("reason").asText()).startsWith("permanent failure: HTTP 410");
            }
            assertThat(JSON.readTree(send("GET", "/v1/dead-letters?subscription=other", null, null)
                                    .body())
                            .get("items"))
                    .isEmpty();
            JsonNode dryRun = JSON.readTree(send(
                            "POST",
                            "/v1/dead-letters/reprocess",
                            "application/json",
                            "{\"subscription\":\"also-gone\",\"dryRun\":true}")
                    .body());
            assertThat(dryRun.get("matched").asInt()).isEqualTo(3);
        } finally {
            gone.close();
        }
    }

    /**
     * Handlers that burn CPU and ignore their interrupts on every lane hold every carrier thread of the virtual
     * threads deliveries run on: ingest, health and admin are served by threads of their own and answer.
     */
    @Test
    void handlersThatHoldEveryCarrierNeverStarveIngestHealthOrAdmin() throws Exception {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(8)
                .build();
        java.util.concurrent.atomic.AtomicInteger burning = new java.util.concurrent.atomic.AtomicInteger();
        keel.subscribe(dev.keel.Subscription.builder("hog")
                .types("order.*")
                .timeout(Duration.ofMillis(500))
                .handler(Object.class, d -> {
                    burning.incrementAndGet();
                    long until = System.nanoTime() + Duration.ofSeconds(4).toNanos();
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait(); // CPU-bound, and deaf to interrupts
                    }
                })
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(new AccessToken(TOKEN, "acme", Set.of(Scope.PRODUCE, Scope.ADMIN, Scope.CONSUME))))
                .build()
                .start();
        for (int i = 0; i < 8; i++) {
            emit("warm-" + i, "k" + i); // a burning handler on (nearly) every lane
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> burning.get() >= 2);
        for (int i = 0; i < 20; i++) {
            emit("e-" + i, "k-" + (i % 5));
            assertLive();
            assertThat(send("GET", "/v1/stats", null, null).statusCode()).isEqualTo(200);
            assertThat(send("GET", "/v1/dead-letters", null, null).statusCode()).isEqualTo(200);
            assertThat(send("GET", "/health/startup", null, null).statusCode()).isEqualTo(200);
        }
    }

    /** The fault test of the default run: refuse, then hang, then answer slowly, then recover. */
    @Test
    void everyEventArrivesInKeyOrderAfterARefusingHangingAndSlowReceiver() throws Exception {
        startServer();
        FlakyReceiver receiver = new FlakyReceiver();
        try {
            receiver.mode("refuse");
            HttpResponse<String> created = send(
                    "PUT",
                    "/v1/subscriptions/orders",
                    "application/json",
                    "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"},"
                            + "\"retry\":{\"maxAttempts\":1000,\"initialDelay\":\"50ms\",\"multiplier\":2,"
                            + "\"maxDelay\":\"300ms\",\"jitter\":0.1},\"timeout\":\"300ms\","
                            + "\"circuitBreaker\":{\"failureRate\":50,\"minimumCalls\":4,\"window\":10,\"openFor\":\"500ms\"}}");
            assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
            Map<String, List<String>> sent = new LinkedHashMap<>();
            int n = 0;
            for (String phase : List.of("refuse", "hang", "slow", "500")) {
                receiver.mode(phase);
                for (int i = 0; i < 15; i++, n++) {
                    String key = "k-" + (n % 5);
                    String id = "e-" + n;
                    emit(id, key);
                    sent.computeIfAbsent(key, k -> new ArrayList<>()).add(id);
                    assertLive();
                    Thread.sleep(40);
                }
            }
            receiver.mode("ok");
            await().atMost(Duration.ofSeconds(90))
                    .untilAsserted(() -> assertThat(receiver.acceptedByKey()).isEqualTo(sent));
            assertLive();
        } finally {
            receiver.close();
        }
    }

    /**
     * A receiver whose behaviour the test switches: refuse connections, hold them without answering, answer
     * after a delay longer than the webhook timeout, answer 500, or answer 204. It records the events it
     * acknowledged, in arrival order per key.
     */
    private static final class FlakyReceiver implements AutoCloseable {
        private final int port;
        private volatile String mode = "ok";
        private com.sun.net.httpserver.HttpServer server;
        private final Map<String, List<String>> accepted = new ConcurrentHashMap<>();
        private final List<com.sun.net.httpserver.HttpExchange> held = new CopyOnWriteArrayList<>();
        private final AtomicBoolean closed = new AtomicBoolean();

        FlakyReceiver() throws Exception {
            port = freePort();
        }

        String url() {
            return "http://127.0.0.1:" + port + "/hook";
        }

        synchronized void mode(String next) throws Exception {
            mode = next;
            if (next.equals("refuse")) {
                if (server != null) {
                    server.stop(0);
                    server = null;
                }
            } else if (server == null) {
                server = com.sun.net.httpserver.HttpServer.create(
                        new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
                server.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
                server.createContext("/", this::answer);
                server.start();
            }
        }

        private void answer(com.sun.net.httpserver.HttpExchange exchange) throws java.io.IOException {
            byte[] body = exchange.getRequestBody().readAllBytes();
            String now = mode;
            try {
                switch (now) {
                    case "hang" -> {
                        held.add(exchange);
                        Thread.sleep(Duration.ofSeconds(30));
                        return;
                    }
                    case "slow" -> Thread.sleep(Duration.ofMillis(900));
                    case "500" -> {
                        exchange.sendResponseHeaders(500, -1);
                        exchange.close();
                        return;
                    }
                    default -> {}
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (!mode.equals("ok") && !now.equals("ok")) {
                // Slow and answered after the sender gave up: the answer goes nowhere; not counted.
                exchange.sendResponseHeaders(503, -1);
                exchange.close();
                return;
            }
            JsonNode event = JSON.readTree(body);
            String key = event.at("/data/key").asText();
            String id = event.at("/data/id").asText();
            synchronized (accepted) {
                List<String> ids = accepted.computeIfAbsent(key, k -> new ArrayList<>());
                if (ids.isEmpty() || !ids.getLast().equals(id)) {
                    ids.add(id); // an at-least-once repeat of the last one is not a new arrival
                }
            }
            exchange.sendResponseHeaders(204, -1);
            exchange.close();
        }

        Map<String, List<String>> acceptedByKey() {
            synchronized (accepted) {
                Map<String, List<String>> copy = new LinkedHashMap<>();
                accepted.keySet().stream().sorted().forEach(k -> copy.put(k, List.copyOf(accepted.get(k))));
                return copy;
            }
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true) && server != null) {
                server.stop(0);
            }
        }
    }
}
