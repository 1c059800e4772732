package dev.keel.bench;

import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.KeelServer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * HTTP ingest through {@code keel serve}'s API on loopback: a SQLite journal, one no-op subscription, and
 * {@code clients} concurrent clients posting as fast as answers come for {@code seconds} (after a 15 s
 * warm-up). {@code batch} posts batches of {@code size} events; {@code single} posts one event a request.
 * Reports requests and events per second, and request latency percentiles (request sent → 202 received, so
 * the event is durable).
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.IngestProbe [batch|single] [clients] [size] [seconds]</pre>
 */
public final class IngestProbe {
    private IngestProbe() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "single";
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int size = mode.equals("batch") ? (args.length > 2 ? Integer.parseInt(args[2]) : 100) : 1;
        int seconds = args.length > 3 ? Integer.parseInt(args[3]) : 10;
        System.out.printf(
                "ingest %s: %d clients, %d event(s) a request, %d s, JDK %s, %d cpus%n",
                mode,
                clients,
                size,
                seconds,
                Runtime.version(),
                Runtime.getRuntime().availableProcessors());
        Path dir = Files.createTempDirectory("keel-ingest");
        LongAdder delivered = new LongAdder();
        Keel keel = Keel.builder()
                .lanes(8)
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build();
        keel.subscribe(Subscription.builder("bench")
                .types("bench.**")
                .handler(Object.class, d -> delivered.increment())
                .build());
        keel.start();
        try (KeelServer server = KeelServer.builder(keel).port(0).build().start();
                HttpClient http = HttpClient.newBuilder()
                        .executor(Executors.newVirtualThreadPerTaskExecutor())
                        .build()) {
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/events");
            run(http, uri, mode, clients, size, 15, null); // warm-up: Jetty and the HTTP client take long to compile
            long[] latencies = new long[4_000_000];
            AtomicLong count = new AtomicLong();
            long requests = run(http, uri, mode, clients, size, seconds, new Recorder(latencies, count));
            long n = Math.min(count.get(), latencies.length);
            long[] sorted = Arrays.copyOf(latencies, (int) n);
            Arrays.sort(sorted);
            System.out.printf(
                    "%,d requests in %d s: %,.0f requests/s, %,.0f events/s; latency p50=%.2f ms p99=%.2f ms"
                            + " p99.9=%.2f ms max=%.2f ms%n",
                    requests,
                    seconds,
                    requests / (double) seconds,
                    requests * size / (double) seconds,
                    pct(sorted, 0.5),
                    pct(sorted, 0.99),
                    pct(sorted, 0.999),
                    sorted[sorted.length - 1] / 1e6);
        }
    }

    private record Recorder(long[] latencies, AtomicLong count) {
        void record(long nanos) {
            long at = count.getAndIncrement();
            if (at < latencies.length) {
                latencies[(int) at] = nanos;
            }
        }
    }

    private static long run(
            HttpClient http, URI uri, String mode, int clients, int size, int seconds, Recorder recorder)
            throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        LongAdder done = new LongAdder();
        AtomicLong ids = new AtomicLong();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < clients; c++) {
                pool.submit(() -> {
                    while (System.nanoTime() < end) {
                        String body = body(mode, size, ids);
                        HttpRequest request = HttpRequest.newBuilder(uri)
                                .header(
                                        "Content-Type",
                                        mode.equals("batch")
                                                ? "application/cloudevents-batch+json"
                                                : "application/cloudevents+json")
                                .POST(HttpRequest.BodyPublishers.ofString(body))
                                .build();
                        long sent = System.nanoTime();
                        HttpResponse<Void> r = http.send(request, HttpResponse.BodyHandlers.discarding());
                        if (r.statusCode() != 202) {
                            throw new IllegalStateException("answered " + r.statusCode());
                        }
                        if (recorder != null) {
                            recorder.record(System.nanoTime() - sent);
                        }
                        done.increment();
                    }
                    return null;
                });
            }
        }
        return done.sum();
    }

    private static String body(String mode, int size, AtomicLong ids) {
        StringBuilder b = new StringBuilder(size * 160);
        if (mode.equals("batch")) {
            b.append('[');
        }
        for (int i = 0; i < size; i++) {
            long id = ids.incrementAndGet();
            b.append(i == 0 ? "" : ",")
                    .append("{\"specversion\":\"1.0\",\"id\":\"")
                    .append(id)
                    .append("\",\"source\":\"/bench\",\"type\":\"bench.order\",\"partitionkey\":\"k-")
                    .append(id & 1023)
                    .append("\",\"data\":{\"n\":")
                    .append(id)
                    .append("}}");
        }
        if (mode.equals("batch")) {
            b.append(']');
        }
        return b.toString();
    }

    private static double pct(long[] sorted, double p) {
        return Percentiles.of(sorted, p) / 1e6;
    }
}
