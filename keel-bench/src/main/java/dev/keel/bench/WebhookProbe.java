package dev.keel.bench;

import com.sun.net.httpserver.HttpServer;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.KeelServer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Webhook delivery through {@code keel serve}'s subscriptions to a receiver on loopback (the JDK's HTTP server,
 * answering 204): events emitted into a SQLite journal in batches, each posted as a signed CloudEvent.
 * Reports events delivered per second from the first emit to the last receipt (median of three rounds after a
 * warm-up round), beside a baseline: the same bodies posted by plain HTTP clients, as many as there are lanes,
 * with no journal, no retries and no signing, the sender's ceiling on this machine.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.WebhookProbe [events] [per-key|none]</pre>
 */
public final class WebhookProbe {
    private static final int LANES = 8;

    private WebhookProbe() {}

    public static void main(String[] args) throws Exception {
        int events = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
        String ordering = args.length > 1 ? args[1] : "per-key";
        System.out.printf(
                "webhooks: %,d events a round, ordering %s, %d lanes, JDK %s, %d cpus%n",
                events, ordering, LANES, Runtime.version(), Runtime.getRuntime().availableProcessors());
        LongAdder received = new LongAdder();
        AtomicLong lastAt = new AtomicLong();
        HttpServer receiver = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
        receiver.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        receiver.createContext("/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                exchange.sendResponseHeaders(204, -1);
                received.increment();
                lastAt.set(System.nanoTime());
            }
        });
        receiver.start();
        String url = "http://127.0.0.1:" + receiver.getAddress().getPort() + "/hook";

        Path dir = Files.createTempDirectory("keel-webhooks");
        Keel keel = Keel.builder()
                .lanes(LANES)
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build();
        List<Double> rates = new ArrayList<>();
        try (KeelServer server = KeelServer.builder(keel)
                .port(0)
                .subscription(
                        "bench",
                        null,
                        Map.of("types", List.of("bench.**"), "webhook", Map.of("url", url), "ordering", ordering))
                .build()) {
            keel.start();
            server.start();
            for (int round = 0; round <= 3; round++) {
                int n = round == 0 ? Math.min(events, 20_000) : events;
                double rate = round(keel, received, lastAt, n);
                if (round == 0) {
                    System.out.printf("warm-up: %,.0f events/s%n", rate);
                } else {
                    rates.add(rate);
                    System.out.printf("round %d: %,.0f events/s%n", round, rate);
                }
            }
        }
        double keelRate = median(rates);
        rates.clear();
        byte[] body = ("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/bench\",\"type\":\"bench.webhook\","
                        + "\"partitionkey\":\"k\",\"data\":{\"n\":1}}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int round = 0; round <= 3; round++) {
            int n = round == 0 ? Math.min(events, 20_000) : events;
            double rate = baseline(url, body, n);
            if (round > 0) {
                rates.add(rate);
            }
        }
        System.out.printf(
                "keel webhooks: %,.0f events/s (median of 3); baseline, %d plain HTTP clients: %,.0f requests/s%n",
                keelRate, LANES, median(rates));
        receiver.stop(0);
    }

    private static double round(Keel keel, LongAdder received, AtomicLong lastAt, int n) throws Exception {
        long before = received.sum();
        long start = System.nanoTime();
        List<Event<?>> batch = new ArrayList<>(1_000);
        for (int i = 0; i < n; i++) {
            batch.add(Event.builder("bench.webhook", Map.of("n", i))
                    .key("k" + (i % 1_000))
                    .build());
            if (batch.size() == 1_000) {
                keel.emitBatch(batch).join();
                batch = new ArrayList<>(1_000);
            }
        }
        if (!batch.isEmpty()) {
            keel.emitBatch(batch).join();
        }
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (received.sum() - before < n) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(
                        "only " + (received.sum() - before) + " of " + n + " delivered in 5 min");
            }
            Thread.sleep(5);
        }
        return n / ((lastAt.get() - start) / 1e9);
    }

    private static double baseline(String url, byte[] body, int n) throws Exception {
        AtomicLong next = new AtomicLong();
        long start = System.nanoTime();
        try (HttpClient http = HttpClient.newBuilder()
                        .version(HttpClient.Version.HTTP_1_1)
                        .executor(Executors.newVirtualThreadPerTaskExecutor())
                        .build();
                var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(url))
                    .header("Content-Type", "application/cloudevents+json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body))
                    .build();
            List<java.util.concurrent.Future<Object>> senders = new ArrayList<>();
            for (int c = 0; c < LANES; c++) {
                senders.add(pool.submit(() -> {
                    while (next.incrementAndGet() <= n) {
                        int status = http.send(request, HttpResponse.BodyHandlers.discarding())
                                .statusCode();
                        if (status != 204) {
                            throw new IllegalStateException("the receiver answered " + status);
                        }
                    }
                    return null;
                }));
            }
            for (var sender : senders) {
                sender.get(); // a failed send fails the baseline rather than inflate it
            }
        }
        return n / ((System.nanoTime() - start) / 1e9);
    }

    private static double median(List<Double> values) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(v);
        return v[v.length / 2];
    }
}
