package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Journal;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Errors at the edges: Jetty's own (before routing), a journal slower than the emit timeout, over-long keys. */
class EdgeErrorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private KeelServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static String raw(int port, String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            OutputStream out = s.getOutputStream();
            out.write(request.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void shouldAnswerJettysOwnErrorsAsProblems() throws Exception {
        server = KeelServer.builder(Keel.builder().build().start())
                .port(0)
                .build()
                .start();
        String badUri = raw(server.port(), "GET /v1/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assertThat(badUri).startsWith("HTTP/1.1 400").contains("Content-Type: application/problem+json");
        assertThat(JSON.readTree(badUri.substring(badUri.indexOf("\r\n\r\n") + 4))
                        .get("status")
                        .asInt())
                .isEqualTo(400);

        String huge = raw(
                server.port(),
                "GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(40_000) + "\r\nConnection: close\r\n\r\n");
        assertThat(huge).startsWith("HTTP/1.1 431").contains("Content-Type: application/problem+json");
        JsonNode problem = JSON.readTree(huge.substring(huge.indexOf("\r\n\r\n") + 4));
        assertThat(problem.get("detail").asText()).contains("headers are too large");
    }

    @Test
    void shouldAnswer503WhenTheJournalIsSlowerThanTheEmitTimeout() throws Exception {
        MemoryJournal memory = new MemoryJournal();
        // The journal stores at once but confirms two seconds later, like a database that stalls.
        Journal slow = (Journal) Proxy.newProxyInstance(
                Journal.class.getClassLoader(), new Class<?>[] {Journal.class}, (proxy, method, args) -> {
                    try {
                        if (method.getName().equals("appendNow")) {
                            return null; // it does not confirm at once
                        }
                        Object result = method.invoke(memory, args);
                        if (method.getName().equals("append")) {
                            return ((CompletableFuture<?>) result)
                                    .thenApplyAsync(r -> r, CompletableFuture.delayedExecutor(2, TimeUnit.SECONDS));
                        }
                        return result;
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        Keel keel = Keel.builder().journal(slow).build().start();
        server = KeelServer.builder(keel)
                .port(0)
                .emitTimeout(Duration.ofMillis(200))
                .build()
                .start();
        HttpResponse<String> r = new Requests(server)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"s1\",\"source\":\"/s\",\"type\":\"order.created\",\"data\":{}}");
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.headers().firstValue("Retry-After")).isPresent();
        assertThat(JSON.readTree(r.body()).get("type").asText()).isEqualTo("/problems/journal-slow");
        assertThat(r.body()).contains("accepted once");
    }

    @Test
    void shouldReportStuckLanesAsNotReady() throws Exception {
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Keel keel = Keel.builder().lanes(2).build();
        keel.subscribe(dev.keel.Subscription.builder("ledger")
                .types("order.*")
                .timeout(null) // no timeout: nothing else would notice a handler that never returns
                .handler(Object.class, d -> release.await())
                .build());
        keel.subscribe(dev.keel.Subscription.builder("timed")
                .types("order.*")
                .timeout(Duration.ofHours(1)) // long: stuck well before the watchdog would step in
                .handler(Object.class, d -> release.await())
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .port(0)
                .stuckAfter(Duration.ofMillis(200))
                .build()
                .start();
        Requests requests = new Requests(server);
        assertThat(requests.send("GET", "/health/ready", null, null).statusCode())
                .isEqualTo(200);
        keel.emit("order.created", "k", 1).join();
        org.awaitility.Awaitility.await()
                .atMost(Duration.ofSeconds(10))
                .until(() -> requests.send("GET", "/health/ready", null, null).statusCode() == 503);
        HttpResponse<String> notReady = requests.send("GET", "/health/ready", null, null);
        assertThat(notReady.body())
                .contains("lanes:")
                .contains("subscription 'ledger'")
                .contains("subscription 'timed'");
        release.countDown();
        org.awaitility.Awaitility.await()
                .atMost(Duration.ofSeconds(10))
                .until(() -> requests.send("GET", "/health/ready", null, null).statusCode() == 200);
    }

    @Test
    void shouldRefuseAnIdempotencyKeyAttributeOver200Characters() throws Exception {
        Keel keel = Keel.builder().build().start();
        server = KeelServer.builder(keel).port(0).build().start();
        HttpResponse<String> r = new Requests(server)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"k1\",\"source\":\"/s\",\"type\":\"order.created\","
                                + "\"idempotencykey\":\"" + "k".repeat(201) + "\",\"data\":{}}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("invalid-idempotency-key").contains("200");
        assertThat(keel.stats().emitted()).isZero();
    }
}
