package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET /v1/stream}: Server-Sent Events against a running server on SQLite. */
class StreamTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private Keel keel;
    private KeelServer server;

    private void start(Consumer<KeelServer.Builder> settings) {
        start(Duration.ofMinutes(5), settings);
    }

    private void start(Duration retention, Consumer<KeelServer.Builder> settings) {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(4)
                .retention(retention)
                .build()
                .start();
        KeelServer.Builder b = KeelServer.builder(keel).port(0);
        settings.accept(b);
        server = b.build().start();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private void emit(String type, String key, Object data) {
        keel.emit(Event.builder(type, data).key(key).build()).join();
    }

    /** Reads events until {@code count} have arrived; control frames fail the test. */
    private static List<SseClient.Frame> events(SseClient client, int count) throws Exception {
        List<SseClient.Frame> out = new ArrayList<>();
        while (out.size() < count) {
            SseClient.Frame f = client.next(WAIT);
            assertThat(f).as("frame %d of %d", out.size() + 1, count).isNotNull();
            assertThat(f.event()).as(String.valueOf(f.data())).isEqualTo("message");
            out.add(f);
        }
        return out;
    }

    private static String idOf(SseClient.Frame f) throws Exception {
        return JSON.readTree(f.data()).get("id").asText();
    }

    @Test
    void shouldStreamMatchingEventsAsTheyAreAppended() throws Exception {
        start(b -> {});
        emit("order.created", "old", 0); // before the stream: not sent
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream?types=order.*,invoice.paid")) {
            assertThat(client.status()).isEqualTo(200);
            assertThat(client.contentType()).startsWith("text/event-stream");
            for (int i = 0; i < 10; i++) {
                emit(i % 3 == 0 ? "shipment.sent" : i % 2 == 0 ? "order.created" : "invoice.paid", "k" + i, i);
            }
            List<SseClient.Frame> frames = events(client, 6);
            List<Integer> data = new ArrayList<>();
            for (SseClient.Frame f : frames) {
                JsonNode e = JSON.readTree(f.data());
                assertThat(e.get("type").asText()).isIn("order.created", "invoice.paid");
                assertThat(e.get("specversion").asText()).isEqualTo("1.0");
                assertThat(f.id()).startsWith("1.");
                data.add(e.get("data").asInt());
            }
            assertThat(data).containsExactlyInAnyOrder(1, 2, 4, 5, 7, 8);
            assertThat(client.next(Duration.ofMillis(300))).isNull();
        }
    }

    @Test
    void shouldResumeFromLastEventIdWithNoGapAndNoDuplicate() throws Exception {
        start(b -> {});
        int total = 600;
        SseClient first = SseClient.connect(server.port(), "/v1/stream?types=order.*");
        assertThat(first.comment(WAIT)).isEqualTo("stream open"); // its position is fixed: every event after counts
        AtomicBoolean producing = new AtomicBoolean(true);
        Thread producer = Thread.ofVirtual().start(() -> {
            for (int i = 0; i < total; i++) {
                emit("order.created", "k" + (i % 17), i);
            }
            producing.set(false);
        });
        // Reconnect again and again while events are appended, each time from the last id received.
        Set<String> seen = new HashSet<>();
        List<String> duplicates = new ArrayList<>();
        SseClient.Frame firstFrame = events(first, 1).getFirst();
        first.close();
        seen.add(idOf(firstFrame));
        String last = firstFrame.id();
        while (seen.size() < total) {
            try (SseClient client =
                    SseClient.connect(server.port(), "/v1/stream?types=order.*", "Last-Event-ID", last)) {
                assertThat(client.status())
                        .as(client.status() == 200 ? "" : client.errorBody())
                        .isEqualTo(200);
                int take = 1 + seen.size() % 37;
                for (SseClient.Frame f : events(client, Math.min(take, total - seen.size()))) {
                    if (!seen.add(idOf(f))) {
                        duplicates.add(idOf(f));
                    }
                    last = f.id();
                }
            }
        }
        producer.join();
        assertThat(duplicates).isEmpty();
        assertThat(seen).hasSize(total);
        assertThat(producing.get()).isFalse();
        // The ids are resume tokens, not event ids: a bad one is refused.
        HttpResponse<String> bad =
                new Requests(server).send("GET", "/v1/stream", null, null, "Last-Event-ID", "not-a-token");
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(bad.body()).contains("invalid-last-event-id");
    }

    @Test
    void shouldSendHeartbeatsAndEndStreamsOnShutdownWithARetryHint() throws Exception {
        start(b -> b.streamHeartbeat(Duration.ofMillis(200)));
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream")) {
            assertThat(client.comment(WAIT)).isEqualTo("stream open");
            assertThat(client.comment(WAIT)).isEqualTo("keepalive");
            server.close();
            SseClient.Frame last = client.next(WAIT);
            assertThat(last.event()).isEqualTo("keel.shutdown");
            assertThat(last.retry()).isNotNull();
            assertThat(client.next(WAIT)).isEqualTo(SseClient.END);
        }
        server = null;
    }

    @Test
    void shouldCloseAClientTooSlowToKeepUpWithAClearFinalEvent() throws Exception {
        start(b -> b.streamBuffer(20));
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream", false)) {
            assertThat(client.status()).isEqualTo(200);
            emitLarge(3_000);
            // 24 MB the client does not read: past the socket buffers, then past 20 waiting events.
            client.startReading();
            SseClient.Frame f;
            int events = 0;
            do {
                f = client.next(WAIT);
                assertThat(f).isNotNull();
                events += f.event().equals("message") ? 1 : 0;
            } while (f.event().equals("message"));
            assertThat(f.event()).isEqualTo("keel.overflow");
            assertThat(JSON.readTree(f.data()).get("lastEventId").asText()).startsWith("1.");
            assertThat(events).isLessThan(3_000);
            assertThat(client.next(WAIT)).isEqualTo(SseClient.END);
        }
    }

    @Test
    void shouldGiveBackAStreamsSlotOnceItsClientHasGone() throws Exception {
        start(b -> b.streamsPerToken(1).streamHeartbeat(Duration.ofMillis(200)));
        SseClient first = SseClient.connect(server.port(), "/v1/stream");
        assertThat(first.comment(WAIT)).isEqualTo("stream open");
        first.close();
        // The server finds the client gone at its next write at the latest (a keep-alive): the slot is free.
        await().atMost(WAIT).until(() -> {
            try (SseClient next = SseClient.connect(server.port(), "/v1/stream")) {
                return next.status() == 200;
            }
        });
    }

    @Test
    void shouldShutDownPastAClientThatStoppedReading() throws Exception {
        start(b -> b.streamBuffer(100_000)); // never closed for falling behind: its write just waits
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream", false)) {
            assertThat(client.status()).isEqualTo(200);
            emitLarge(2_000);
            // 16 MB the client does not read: the stream's write waits for a socket that stays full.
            await().atMost(WAIT).until(() -> streamsOpen() == 1);
            Thread closing = Thread.ofVirtual().start(server::close);
            assertThat(closing.join(Duration.ofSeconds(60)))
                    .as("the server shut down")
                    .isTrue();
            server = null;
            client.startReading(); // what the sockets held, then the end: the connection was closed
            SseClient.Frame f;
            do {
                f = client.next(WAIT);
                assertThat(f).isNotNull();
            } while (f != SseClient.END);
        }
    }

    /** Emits {@code count} events of 8 KB each, in batches. */
    private void emitLarge(int count) {
        String big = "x".repeat(8_000);
        List<Event<?>> batch = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            batch.add(Event.builder("order.created", big).key("k" + i).build());
            if (batch.size() == 500) {
                keel.emitBatch(batch).join();
                batch.clear();
            }
        }
    }

    private int streamsOpen() throws Exception {
        return JSON.readTree(new Requests(server)
                        .send("GET", "/v1/stats", null, null)
                        .body())
                .get("streams")
                .asInt();
    }

    @Test
    void shouldKeepTenantsApartAndLimitStreamsPerToken() throws Exception {
        String acme = "acme-token-0123456789";
        String globex = "globex-token-0123456789";
        String producer = "producer-token-0123456789";
        start(b -> b.streamsPerToken(1)
                .tokens(List.of(
                        new AccessToken(acme, "acme", Set.of(AccessToken.Scope.CONSUME)),
                        new AccessToken(globex, "globex", Set.of(AccessToken.Scope.CONSUME)),
                        new AccessToken(producer, "acme", Set.of(AccessToken.Scope.PRODUCE)))));
        // The browser form: the token as a query parameter.
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream?access_token=" + acme)) {
            assertThat(client.status()).isEqualTo(200);
            try (SseClient second = SseClient.connect(server.port(), "/v1/stream?access_token=" + acme)) {
                assertThat(second.status()).isEqualTo(429);
                assertThat(second.errorBody()).contains("too-many-streams");
            }
            try (SseClient other =
                    SseClient.connect(server.port(), "/v1/stream", "Authorization", "Bearer " + globex)) {
                assertThat(other.status()).isEqualTo(200);
                keel.emit(Event.builder("order.created", 1).tenant("globex").build())
                        .join();
                keel.emit(Event.builder("order.created", 2).tenant("acme").build())
                        .join();
                assertThat(JSON.readTree(events(client, 1).getFirst().data())
                                .get("data")
                                .asInt())
                        .isEqualTo(2);
                assertThat(JSON.readTree(events(other, 1).getFirst().data())
                                .get("data")
                                .asInt())
                        .isEqualTo(1);
            }
            try (SseClient refused = SseClient.connect(server.port(), "/v1/stream?access_token=" + producer)) {
                assertThat(refused.status()).isEqualTo(403);
            }
            try (SseClient refused = SseClient.connect(server.port(), "/v1/stream")) {
                assertThat(refused.status()).isEqualTo(401);
                assertThat(refused.errorBody()).contains("access_token");
            }
        }
        // The token is only read from the query on the stream.
        assertThat(new Requests(server)
                        .send("GET", "/v1/subscriptions?access_token=" + acme, null, null)
                        .statusCode())
                .isEqualTo(401);
    }

    @Test
    void shouldSayWhenEventsToResumeFromWerePruned() throws Exception {
        start(Duration.ZERO, b -> {}); // no retention: events every subscription passed are pruned at once
        for (int i = 0; i < 20; i++) {
            emit("order.created", "k" + i, i);
        }
        String start = StreamPosition.format(new long[] {0, 0, 0, 0});
        await().atMost(WAIT).until(() -> {
            try (SseClient client = SseClient.connect(server.port(), "/v1/stream", "Last-Event-ID", start)) {
                SseClient.Frame f = client.next(Duration.ofSeconds(2));
                if (f == null || !f.event().equals("keel.gap")) {
                    return false;
                }
                JsonNode gap = JSON.readTree(f.data());
                assertThat(gap.get("from").asLong()).isEqualTo(1);
                assertThat(gap.get("to").asLong()).isGreaterThanOrEqualTo(1);
                assertThat(f.id()).startsWith("1.");
                return true;
            }
        });
    }

    @Test
    void shouldStartLanesAtTheirHeadsWhenLastEventIdIsAheadOfTheJournal() throws Exception {
        start(b -> {});
        String ahead = StreamPosition.format(new long[] {500, 0, 0, 0}); // made by another deployment
        try (SseClient client = SseClient.connect(server.port(), "/v1/stream", "Last-Event-ID", ahead)) {
            SseClient.Frame reset = client.next(WAIT);
            assertThat(reset.event()).isEqualTo("keel.reset");
            assertThat(JSON.readTree(reset.data()).at("/lanes/0/lane").asInt()).isZero();
            for (int i = 0; i < 8; i++) {
                emit("order.created", "k" + i, i);
            }
            assertThat(events(client, 8)).hasSize(8); // lane 0's events too, not dropped as "already seen"
        }
    }

    @Test
    void shouldRefuseBadTypes() throws Exception {
        start(b -> {});
        HttpResponse<String> r = new Requests(server).send("GET", "/v1/stream?types=order..x", null, null);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.body()).contains("invalid-types").contains("order..x");
    }

    @Test
    void shouldLimitRequestsPerToken() throws Exception {
        start(b -> b.requestsPerSecond(3));
        List<Integer> statuses = new ArrayList<>();
        String refusal = null;
        for (int i = 0; i < 12; i++) {
            HttpResponse<String> r = new Requests(server)
                    .send(
                            "POST",
                            "/v1/events",
                            CloudEventReader.STRUCTURED,
                            "{\"specversion\":\"1.0\",\"id\":\"e" + i
                                    + "\",\"source\":\"/s\",\"type\":\"order.created\",\"data\":{}}");
            statuses.add(r.statusCode());
            if (r.statusCode() == 429) {
                refusal = r.body();
                assertThat(r.headers().firstValue("Retry-After")).hasValue("1");
            }
        }
        assertThat(statuses).contains(429).contains(202).containsOnly(202, 429);
        assertThat(refusal).contains("rate-limited").contains("3 requests a second");
        long accepted = statuses.stream().filter(s -> s == 202).count();
        await().atMost(WAIT).until(() -> keel.stats().emitted() == accepted); // refused requests stored nothing
    }
}
