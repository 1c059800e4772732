package dev.keel.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.jdbc.StoreSettings;
import dev.keel.server.KeelServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A soak: one {@code keel serve} server in this JVM (SQLite journal in a temporary directory, or the embedded
 * PostgreSQL) under a steady mixed load for a given time, with the process's resources sampled each minute.
 *
 * <p>The load: HTTP ingest of {@code rate} events a second over loopback (JDK HttpClient, one event a request,
 * 1,000 keys); two webhook subscriptions to a receiver in this process, {@code soak-healthy} (always 204) and
 * {@code soak-flaky} (500 on every 20th request, so retries happen, and 410 on every 1,000th, so dead letters
 * appear); a Java subscription; and {@code streams} SSE clients, each following one of ten event types and
 * reconnecting with {@code Last-Event-ID} every 30 to 90 s.
 *
 * <p>Each minute one line: used heap after a GC hint, live platform threads, open file descriptors, total lag
 * (from {@code /v1/stats}), and the counters so far: events accepted (202), delivered (every subscription, from
 * {@code /v1/stats}), received by the healthy webhook, retries scheduled, dead-lettered, SSE events received, and
 * errors (ingest answers other than 202, failed requests, broken streams). At the end: ingest stops, the healthy
 * webhook gets up to 60 s to receive every accepted event, and a summary gives first/last/min/max/median per series
 * and a verdict.
 *
 * <p>The rule: the first minute is warm-up and left out; of the remaining samples, the median of the last third
 * must be at most the median of the first third plus 15% (plus a small absolute slack, so a series near zero is not
 * judged on noise: heap 16 MB, threads 4, fds 16, lag 1,000). Per-minute rates (accepted, delivered, ...) are judged
 * flat when within 15% either way. The exit code is 1 when heap, threads or fds grew past the rule, or when an
 * accepted event never reached the healthy webhook; the heap here includes the load generator's own (small, fixed)
 * state.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.Soak [60m] [sqlite|postgres] [rate] [streams]</pre>
 */
public final class Soak {
    private static final int LANES = 8;
    private static final int TYPES = 10;
    private static final int KEYS = 1_000;
    private static final Duration SAMPLE_EVERY = Duration.ofMinutes(1);
    private static final Duration DRAIN = Duration.ofSeconds(60);

    private final ObjectMapper json = new ObjectMapper();
    private final LongAdder accepted = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder sseEvents = new LongAdder();
    private final LongAdder sseReconnects = new LongAdder();
    private final LongAdder javaDelivered = new LongAdder();
    private final AtomicLong flakyRequests = new AtomicLong();
    /** Sequence numbers the server accepted, and those the healthy webhook received. */
    private final BitSet acceptedSeqs = new BitSet();

    private final BitSet healthySeqs = new BitSet();
    private final AtomicBoolean running = new AtomicBoolean(true);

    private Soak() {}

    public static void main(String[] args) throws Exception {
        Duration duration = StoreSettings.parseDuration(args.length > 0 ? args[0] : "60m");
        String engine = args.length > 1 ? args[1] : "sqlite";
        int rate = args.length > 2 ? Integer.parseInt(args[2]) : 300;
        int streams = args.length > 3 ? Integer.parseInt(args[3]) : 50;
        if (!engine.equals("sqlite") && !engine.equals("postgres")) {
            throw new IllegalArgumentException("engine must be sqlite or postgres but was " + engine);
        }
        System.out.printf(
                "soak: %s on %s, %d events/s over HTTP, 2 webhooks (one failing 5%% with 500, 0.1%% with 410), "
                        + "1 Java subscription, %d SSE streams; JDK %s, %d cpus, max heap %d MB, started %s%n",
                duration,
                engine,
                rate,
                streams,
                Runtime.version(),
                Runtime.getRuntime().availableProcessors(),
                Runtime.getRuntime().maxMemory() >> 20,
                Instant.now().truncatedTo(ChronoUnit.SECONDS));
        boolean ok;
        if (engine.equals("postgres")) {
            try (EmbeddedPostgres pg = EmbeddedPostgres.builder()
                    .setServerConfig("listen_addresses", "127.0.0.1")
                    .start()) {
                ok = new Soak()
                        .run(
                                JdbcJournal.postgres(pg.getJdbcUrl("postgres", "postgres"), "postgres", null),
                                duration,
                                rate,
                                streams);
            }
        } else {
            Path dir = Files.createTempDirectory("keel-soak");
            ok = new Soak().run(JdbcJournal.sqlite(dir.resolve("keel.db")), duration, rate, streams);
        }
        System.exit(ok ? 0 : 1);
    }

    private boolean run(JdbcJournal journal, Duration duration, int rate, int streams) throws Exception {
        HttpServer receiver = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
        receiver.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        receiver.createContext("/healthy", this::healthy);
        receiver.createContext("/flaky", this::flaky);
        receiver.start();
        String hooks = "http://127.0.0.1:" + receiver.getAddress().getPort();

        Keel keel = Keel.builder().lanes(LANES).journal(journal).build();
        keel.subscribe(Subscription.builder("soak-java")
                .types("soak.**")
                .handler(Object.class, d -> javaDelivered.increment())
                .build());
        List<Sample> samples = new ArrayList<>();
        long missing;
        try (KeelServer server = KeelServer.builder(keel)
                        .port(0)
                        .streamsPerToken(streams + 10)
                        .subscription(
                                "soak-healthy",
                                null,
                                Map.of("types", List.of("soak.**"), "webhook", Map.of("url", hooks + "/healthy")))
                        .subscription(
                                "soak-flaky",
                                null,
                                Map.of(
                                        "types",
                                        List.of("soak.**"),
                                        "webhook",
                                        Map.of("url", hooks + "/flaky"),
                                        "retry",
                                        Map.of("maxAttempts", 4, "initialDelay", "1s", "maxDelay", "10s")))
                        .build();
                HttpClient ingestClient = HttpClient.newBuilder()
                        .version(HttpClient.Version.HTTP_1_1)
                        .executor(Executors.newVirtualThreadPerTaskExecutor())
                        .build();
                HttpClient streamClient = HttpClient.newBuilder()
                        .version(HttpClient.Version.HTTP_1_1)
                        .executor(Executors.newVirtualThreadPerTaskExecutor())
                        .build();
                ExecutorService load = Executors.newVirtualThreadPerTaskExecutor()) {
            keel.start();
            server.start();
            String base = "http://127.0.0.1:" + server.port();
            for (int s = 0; s < streams; s++) {
                int type = s % TYPES;
                load.submit(() -> stream(streamClient, base, type));
            }
            Thread ingest = Thread.ofPlatform()
                    .name("soak-ingest")
                    .start(() -> ingest(ingestClient, URI.create(base + "/v1/events"), rate, load));

            System.out.println(Sample.HEADER);
            long start = System.nanoTime();
            long end = start + duration.toNanos();
            int minute = 0;
            while (true) {
                long due = start + SAMPLE_EVERY.toNanos() * (minute + 1);
                if (due > end) {
                    break;
                }
                TimeUnit.NANOSECONDS.sleep(due - System.nanoTime());
                minute++;
                Sample sample = sample(minute, ingestClient, base);
                samples.add(sample);
                System.out.println(sample.line());
            }
            running.set(false);
            ingest.join();
            long drainStart = System.nanoTime();
            missing = drain();
            System.out.printf(
                    "drained in %.1f s (at most %d s): of %,d accepted events, %d not received by the healthy"
                            + " webhook; Java handler deliveries %,d; SSE reconnects %,d%n",
                    (System.nanoTime() - drainStart) / 1e9,
                    DRAIN.toSeconds(),
                    accepted.sum(),
                    missing,
                    javaDelivered.sum(),
                    sseReconnects.sum());
            load.shutdownNow();
        } finally {
            keel.close();
            receiver.stop(0);
        }
        return summarize(samples) && missing == 0;
    }

    /** Posts one event a request at a fixed rate; at most 64 requests in flight (the pace waits past that). */
    private void ingest(HttpClient http, URI uri, int rate, ExecutorService load) {
        Semaphore inFlight = new Semaphore(64);
        long interval = 1_000_000_000L / rate;
        long next = System.nanoTime();
        long seq = 0;
        try {
            while (running.get()) {
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait);
                }
                next += interval;
                inFlight.acquire();
                long n = seq++;
                load.submit(() -> {
                    try {
                        String body = "{\"specversion\":\"1.0\",\"id\":\"soak-" + n
                                + "\",\"source\":\"/soak\",\"type\":\"soak.t" + (n % TYPES)
                                + "\",\"partitionkey\":\"k-" + (n % KEYS) + "\",\"data\":{\"seq\":" + n + "}}";
                        HttpResponse<Void> r = http.send(
                                HttpRequest.newBuilder(uri)
                                        .header("Content-Type", "application/cloudevents+json")
                                        .timeout(Duration.ofSeconds(30))
                                        .POST(HttpRequest.BodyPublishers.ofString(body))
                                        .build(),
                                HttpResponse.BodyHandlers.discarding());
                        if (r.statusCode() == 202) {
                            synchronized (acceptedSeqs) {
                                acceptedSeqs.set((int) n);
                            }
                            accepted.increment();
                        } else {
                            errors.increment();
                        }
                    } catch (IOException e) {
                        errors.increment();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    } finally {
                        inFlight.release();
                    }
                });
            }
            inFlight.acquire(64); // every request answered
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One SSE client: follows {@code soak.t<type>}, and after 30 to 90 s closes and reconnects with the last id
     * it read. A stream that ends or fails on its own counts as an error and reconnects the same way.
     */
    private void stream(HttpClient http, String base, int type) {
        String lastId = null;
        while (running.get()) {
            long reconnectAt = System.nanoTime()
                    + TimeUnit.SECONDS.toNanos(ThreadLocalRandom.current().nextInt(30, 91));
            HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base + "/v1/stream?types=soak.t" + type))
                    .header("Accept", "text/event-stream");
            if (lastId != null) {
                request.header("Last-Event-ID", lastId);
            }
            boolean closedByUs = false;
            try {
                HttpResponse<InputStream> r = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
                try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                    if (r.statusCode() != 200) {
                        errors.increment();
                        Thread.sleep(1_000);
                        continue;
                    }
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (line.startsWith("id: ")) {
                            lastId = line.substring(4);
                        } else if (line.startsWith("data: {")) {
                            sseEvents.increment();
                        } else if (line.startsWith("event: keel.overflow")) {
                            errors.increment();
                        }
                        if (System.nanoTime() > reconnectAt || !running.get()) {
                            closedByUs = true;
                            break;
                        }
                    }
                }
                if (!closedByUs && running.get()) {
                    errors.increment();
                }
                sseReconnects.increment();
            } catch (IOException e) {
                if (running.get()) {
                    errors.increment();
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void healthy(HttpExchange exchange) throws IOException {
        try (exchange) {
            byte[] body = exchange.getRequestBody().readAllBytes();
            long seq = seq(body);
            if (seq >= 0) {
                synchronized (healthySeqs) {
                    healthySeqs.set((int) seq);
                }
            } else {
                errors.increment();
            }
            exchange.sendResponseHeaders(204, -1);
        }
    }

    private void flaky(HttpExchange exchange) throws IOException {
        try (exchange) {
            exchange.getRequestBody().readAllBytes();
            long n = flakyRequests.incrementAndGet();
            int status = n % 1_000 == 7 ? 410 : n % 20 == 0 ? 500 : 204;
            exchange.sendResponseHeaders(status, -1);
        }
    }

    /** The {@code seq} in a delivered CloudEvent's data, or -1. */
    private static long seq(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8);
        int at = text.indexOf("\"seq\":");
        if (at < 0) {
            return -1;
        }
        int i = at + 6;
        while (i < text.length() && text.charAt(i) == ' ') {
            i++;
        }
        long n = 0;
        int digits = 0;
        for (; i < text.length() && Character.isDigit(text.charAt(i)); i++, digits++) {
            n = n * 10 + (text.charAt(i) - '0');
        }
        return digits == 0 ? -1 : n;
    }

    /** Waits up to {@link #DRAIN} for the healthy webhook to hold every accepted event; returns how many it lacks. */
    private long drain() throws InterruptedException {
        long deadline = System.nanoTime() + DRAIN.toNanos();
        long missing;
        do {
            BitSet lacking;
            synchronized (acceptedSeqs) {
                lacking = (BitSet) acceptedSeqs.clone();
            }
            synchronized (healthySeqs) {
                lacking.andNot(healthySeqs);
            }
            missing = lacking.cardinality();
            if (missing == 0) {
                return 0;
            }
            Thread.sleep(500);
        } while (System.nanoTime() < deadline);
        return missing;
    }

    private Sample sample(int minute, HttpClient http, String base) throws Exception {
        var memory = ManagementFactory.getMemoryMXBean();
        memory.gc();
        long heap = memory.getHeapMemoryUsage().getUsed();
        int threads = ManagementFactory.getThreadMXBean().getThreadCount();
        long fds = ManagementFactory.getOperatingSystemMXBean()
                        instanceof com.sun.management.UnixOperatingSystemMXBean unix
                ? unix.getOpenFileDescriptorCount()
                : -1;
        long lag = 0;
        long delivered = 0;
        long retried = 0;
        long deadLettered = 0;
        try {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create(base + "/v1/stats"))
                            .timeout(Duration.ofSeconds(30))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            for (JsonNode s : json.readTree(r.body()).path("subscriptions")) {
                lag += s.path("lag").asLong();
                delivered += s.path("delivered").asLong();
                retried += s.path("retriesScheduled").asLong();
                deadLettered += s.path("deadLettered").asLong();
            }
        } catch (IOException e) {
            errors.increment();
            lag = -1;
        }
        long received;
        synchronized (healthySeqs) {
            received = healthySeqs.cardinality();
        }
        return new Sample(
                minute,
                heap >> 20,
                threads,
                fds,
                lag,
                accepted.sum(),
                delivered,
                received,
                retried,
                deadLettered,
                sseEvents.sum(),
                errors.sum());
    }

    /** One minute's figures; the counters are totals since the start. */
    private record Sample(
            int minute,
            long heapMb,
            long threads,
            long fds,
            long lag,
            long accepted,
            long delivered,
            long hookReceived,
            long retried,
            long deadLettered,
            long sse,
            long errors) {
        static final String HEADER = String.format(
                "%4s %8s %7s %5s %7s %10s %10s %10s %8s %6s %10s %6s",
                "min",
                "heap MB",
                "threads",
                "fds",
                "lag",
                "accepted",
                "delivered",
                "healthy",
                "retried",
                "dlq",
                "sse",
                "errors");

        String line() {
            return String.format(
                    "%4d %8d %7d %5d %7d %10d %10d %10d %8d %6d %10d %6d",
                    minute,
                    heapMb,
                    threads,
                    fds,
                    lag,
                    accepted,
                    delivered,
                    hookReceived,
                    retried,
                    deadLettered,
                    sse,
                    errors);
        }
    }

    /** Prints the summary; false when heap, threads or fds grew past the rule. */
    private static boolean summarize(List<Sample> samples) {
        System.out.println("summary (first minute left out as warm-up; rates are per minute):");
        System.out.printf(
                "%-16s %10s %10s %10s %10s %10s  %s%n", "series", "first", "last", "min", "max", "median", "verdict");
        if (samples.size() < 2) {
            System.out.println("too short to judge: run at least 2 minutes");
            return false;
        }
        boolean flat = true;
        flat &= judge("heap MB", gauge(samples, Sample::heapMb), 16, true);
        flat &= judge("threads", gauge(samples, Sample::threads), 4, true);
        flat &= judge("fds", gauge(samples, Sample::fds), 16, true);
        judge("lag", gauge(samples, Sample::lag), 1_000, true);
        judge("accepted/min", rate(samples, Sample::accepted), 0, false);
        judge("delivered/min", rate(samples, Sample::delivered), 0, false);
        judge("healthy/min", rate(samples, Sample::hookReceived), 0, false);
        judge("retried/min", rate(samples, Sample::retried), 10, false);
        judge("dlq/min", rate(samples, Sample::deadLettered), 10, false);
        judge("sse/min", rate(samples, Sample::sse), 0, false);
        judge("errors/min", rate(samples, Sample::errors), 10, true);
        return flat;
    }

    private static long[] gauge(List<Sample> samples, java.util.function.ToLongFunction<Sample> f) {
        return samples.stream().skip(1).mapToLong(f).toArray();
    }

    private static long[] rate(List<Sample> samples, java.util.function.ToLongFunction<Sample> f) {
        long[] out = new long[samples.size() - 1];
        for (int i = 1; i < samples.size(); i++) {
            out[i - 1] = f.applyAsLong(samples.get(i)) - f.applyAsLong(samples.get(i - 1));
        }
        return out;
    }

    /**
     * Prints one series and its verdict: flat when the last third's median is within 15% (plus {@code slack}) of
     * the first third's; with {@code growthOnly}, falling is flat too.
     */
    private static boolean judge(String name, long[] values, long slack, boolean growthOnly) {
        int third = Math.max(1, values.length / 3);
        double first = median(Arrays.copyOfRange(values, 0, third));
        double last = median(Arrays.copyOfRange(values, values.length - third, values.length));
        double bound = first * 0.15 + slack;
        boolean flat = last <= first + bound && (growthOnly || last >= first - bound);
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        String verdict = flat
                ? "flat"
                : String.format(
                        "NOT flat: last third's median %.0f vs first third's %.0f (%+.0f%%)",
                        last, first, first == 0 ? 100.0 : (last - first) * 100 / first);
        System.out.printf(
                "%-16s %10d %10d %10d %10d %10.0f  %s%n",
                name,
                values[0],
                values[values.length - 1],
                sorted[0],
                sorted[sorted.length - 1],
                median(values),
                verdict);
        return flat;
    }

    private static double median(long[] values) {
        long[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
    }
}
