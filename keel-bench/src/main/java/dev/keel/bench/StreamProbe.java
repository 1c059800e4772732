package dev.keel.bench;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.redis.LocalRedis;
import dev.keel.redis.RedisAppendNotices;
import dev.keel.redis.RedisJournal;
import dev.keel.server.KeelServer;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * Server-Sent Events fan-out: {@code clients} concurrent streams on one server (SQLite journal), each a
 * plain socket on loopback reading {@code GET /v1/stream}, while events are emitted at {@code rate} a second
 * for {@code seconds}, after a 15 s warm-up at the same rate (one schedule for both). Each event carries its emit
 * time; each client records emit → read. Reports delivery
 * latency percentiles over every (event, client) pair, how many arrived, and the heap the server's open
 * streams hold (used heap after a full GC, before and after connecting). The clients run in a second JVM on
 * the same machine, reading the sockets on two selector threads that pause 1 ms between selects.
 *
 * <p>{@code across redis|postgres}: the same with two instances, events emitted on A and streamed from B's server
 * (on a Redis journal; on one PostgreSQL with Redis append notices beside it; or, for comparison, on one PostgreSQL
 * without them: {@code postgres-polling}).
 *
 * <pre>java -Xmx4g -cp keel-bench/target/benchmarks.jar dev.keel.bench.StreamProbe [clients] [rate] [seconds]
 * java -Xmx4g -cp keel-bench/target/benchmarks.jar dev.keel.bench.StreamProbe across redis|postgres|postgres-polling clients rate seconds</pre>
 */
public final class StreamProbe {
    private StreamProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("clients")) {
            clients(
                    Integer.parseInt(args[1]),
                    Integer.parseInt(args[2]),
                    Long.parseLong(args[3]),
                    args.length > 4 && args[4].equals("spread"));
            return;
        }
        if (args.length > 0 && args[0].equals("across")) {
            across(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            return;
        }
        int clients = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int rate = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        System.out.printf(
                "streams: %,d clients, %d events/s for %d s, JDK %s, %d cpus, max heap %d MB%n",
                clients,
                rate,
                seconds,
                Runtime.version(),
                Runtime.getRuntime().availableProcessors(),
                Runtime.getRuntime().maxMemory() >> 20);
        Path dir = Files.createTempDirectory("keel-streams");
        Keel keel = Keel.builder()
                .lanes(8)
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build()
                .start();
        try (KeelServer server = KeelServer.builder(keel)
                .port(0)
                .streamsPerToken(clients + 10)
                .build()
                .start()) {
            measure(keel, server, clients, rate, seconds, false);
        } finally {
            keel.close();
        }
    }

    /**
     * Two instances on one engine: events are emitted on A, and the streams read from B's server, so each event
     * reaches B through the engine and a notice from A. {@code redis}: both on a Redis journal, which publishes its
     * appends; {@code postgres}: both on one PostgreSQL, with Redis notices beside it.
     */
    private static void across(String engine, int clients, int rate, int seconds) throws Exception {
        try (LocalRedis redis = LocalRedis.start(LocalRedis.Persistence.AOF_EVERYSEC);
                EmbeddedPostgres pg = engine.startsWith("postgres")
                        ? EmbeddedPostgres.builder()
                                .setServerConfig("listen_addresses", "127.0.0.1")
                                .start()
                        : null) {
            java.util.function.Supplier<Keel.Builder> runtime = () -> {
                // As keel serve keeps events: an instance's pruning does not see another's streams.
                Keel.Builder b = Keel.builder().lanes(8).retention(Duration.ofMinutes(15));
                if (pg != null) {
                    b.journal(JdbcJournal.postgres(pg.getJdbcUrl("postgres", "postgres"), "postgres", null));
                    // postgres-polling: without notices, for comparison: B's readers find A's appends by polling.
                    return engine.equals("postgres")
                            ? b.appendNotices(RedisAppendNotices.connect(redis.url(), "across", null))
                            : b;
                }
                return b.journal(
                        RedisJournal.builder().url(redis.url()).prefix("across").build());
            };
            Keel a = runtime.get().build().start();
            Keel b = runtime.get().build().start();
            try (KeelServer server = KeelServer.builder(b)
                    .port(0)
                    .streamsPerToken(clients + 10)
                    .build()
                    .start()) {
                System.out.printf("emitted on instance A, streamed from instance B (%s)%n", engine);
                measure(a, server, clients, rate, seconds, true);
            } finally {
                a.close();
                b.close();
            }
        }
    }

    /** Opens the streams on the server, emits on {@code emitter}, and prints what the clients measured. */
    /**
     * Opens the streams on the server, emits on {@code emitter}, and prints what the clients measured. Spread: each
     * stream asks for a type of its own and each event goes to one stream (as when every browser follows its own
     * user's events); otherwise every stream gets every event.
     */
    private static void measure(Keel emitter, KeelServer server, int clients, int rate, int seconds, boolean spread)
            throws Exception {
        {
            long heapBefore = usedHeapAfterGc();
            // The clients run in a process of their own: each side holds one socket per stream, and a process
            // may have only so many files open. Both read the same monotonic clock (System.nanoTime, on Linux).
            long connectStart = System.nanoTime();
            Process child = new ProcessBuilder(
                            ProcessHandle.current().info().command().orElse("java"),
                            "-Xmx2g",
                            "-cp",
                            System.getProperty("java.class.path"),
                            StreamProbe.class.getName(),
                            "clients",
                            Integer.toString(server.port()),
                            Integer.toString(clients),
                            Long.toString((long) rate * (WARM_UP_SECONDS + seconds) * (spread ? 1 : clients)),
                            spread ? "spread" : "all")
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            java.io.BufferedReader fromChild = new java.io.BufferedReader(
                    new java.io.InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            String line = fromChild.readLine();
            while (line != null && line.startsWith("Profiling")) { // an attached profiler's greeting
                line = fromChild.readLine();
            }
            if (line == null || !line.startsWith("open")) {
                throw new IllegalStateException("the client process failed: " + line);
            }
            System.out.printf("%,d streams open in %.1f s%n", clients, (System.nanoTime() - connectStart) / 1e9);
            long heapOpen = usedHeapAfterGc();
            System.out.printf(
                    "heap with the streams open: %,d MB more than before (%.1f KB a stream, server side)%n",
                    (heapOpen - heapBefore) >> 20, (heapOpen - heapBefore) / 1024.0 / clients);

            // A warm-up at the same rate first: the JIT compiles the fan-out path (and the clients' reading)
            // meanwhile instead of during the measurement. Its events differ from the others only in a digit,
            // so both sides run the same code throughout; the clients keep the measured ones at the end. One
            // schedule spans both: the first measured event comes one interval after the warm-up's last.
            int streams = spread ? clients : 0;
            long next = emit(emitter, rate, WARM_UP_SECONDS * rate, System.nanoTime(), 0, streams);
            int total = rate * seconds;
            emit(emitter, rate, total, next, 1, streams);
            long expected = (long) total * (spread ? 1 : clients);
            String result = fromChild.readLine(); // the clients answer once every event arrived, or after 30 s
            child.waitFor();
            System.out.println(
                    result == null
                            ? "the client process ended without a result"
                            : result.replace("EXPECTED", String.format("%,d", expected)));
        }
    }

    /** Selector threads in the client process: the streams are spread over them. */
    private static final int READERS = 2;
    /** Between a reader's selects. */
    private static final Duration PAUSE = Duration.ofMillis(1);

    /**
     * The client process: opens the streams, reads them on {@link #READERS} selector threads, reports
     * latencies. Each read is timed when it returns.
     */
    private static void clients(int port, int clients, long expected, boolean spread) throws Exception {
        CountDownLatch connected = new CountDownLatch(clients);
        LongAdder received = new LongAdder();
        java.util.function.IntFunction<byte[]> request = c -> ("GET /v1/stream?types="
                        + (spread ? "bench.s" + c : "bench.**") + " HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        java.nio.channels.Selector[] selectors = new java.nio.channels.Selector[READERS];
        long[][] samples = new long[READERS][];
        int[][] counts = new int[READERS][1];
        for (int r = 0; r < READERS; r++) {
            selectors[r] = java.nio.channels.Selector.open();
            // (measured, latency) pairs, warm-up included: the measurement's are picked out at the end.
            samples[r] = new long[(int) Math.min(2 * (expected / READERS + 1_024), 200_000_000)];
        }
        List<java.nio.channels.SocketChannel> channels = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            java.nio.channels.SocketChannel ch =
                    java.nio.channels.SocketChannel.open(new InetSocketAddress("127.0.0.1", port));
            ch.write(java.nio.ByteBuffer.wrap(request.apply(c)));
            ch.configureBlocking(false);
            ch.register(selectors[c % READERS], java.nio.channels.SelectionKey.OP_READ, new Parser());
            channels.add(ch);
        }
        java.util.concurrent.atomic.AtomicBoolean reading = new java.util.concurrent.atomic.AtomicBoolean(true);
        List<Thread> readers = new ArrayList<>();
        for (int r = 0; r < READERS; r++) {
            java.nio.channels.Selector selector = selectors[r];
            long[] mine = samples[r];
            int[] count = counts[r];
            readers.add(Thread.ofPlatform().name("stream-clients-" + r).start(() -> {
                java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(64 * 1024);
                try {
                    while (reading.get()) {
                        // A pause between selects, so that each finds many sockets ready: on one machine the
                        // clients share the server's two cores, and selecting once per ready socket cost them
                        // more than the reads. It adds at most the pause to a read's latency.
                        Thread.sleep(PAUSE);
                        selector.select(100);
                        for (var key : selector.selectedKeys()) {
                            buffer.clear();
                            int n = ((java.nio.channels.SocketChannel) key.channel()).read(buffer);
                            long now = System.nanoTime();
                            if (n < 0) {
                                key.cancel();
                                continue;
                            }
                            ((Parser) key.attachment()).feed(buffer.array(), n, now, connected, received, mine, count);
                        }
                        selector.selectedKeys().clear();
                    }
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        if (!connected.await(5, TimeUnit.MINUTES)) {
            throw new IllegalStateException(connected.getCount() + " streams did not open in 5 minutes");
        }
        System.out.println("open");
        System.out.flush();
        long quiet = System.nanoTime();
        long last = 0;
        // Done when every event arrived, or when nothing arrived for 30 s.
        while (received.sum() < expected && System.nanoTime() - quiet < TimeUnit.SECONDS.toNanos(30)) {
            Thread.sleep(50);
            if (received.sum() != last) {
                last = received.sum();
                quiet = System.nanoTime();
            }
        }
        reading.set(false);
        for (Thread t : readers) {
            t.join();
        }
        for (var ch : channels) {
            ch.close();
        }
        int total = 0;
        for (int r = 0; r < READERS; r++) {
            for (int i = 0; i < counts[r][0]; i += 2) {
                total += samples[r][i] == 1 ? 1 : 0;
            }
        }
        long[] all = new long[total];
        int at = 0;
        for (int r = 0; r < READERS; r++) {
            for (int i = 0; i < counts[r][0]; i += 2) {
                if (samples[r][i] == 1) {
                    all[at++] = samples[r][i + 1];
                }
            }
        }
        Arrays.sort(all);
        System.out.printf(
                "%,d of EXPECTED deliveries arrived; emit -> read latency p50=%.1f ms p99=%.1f ms p99.9=%.1f ms"
                        + " max=%.1f ms%n",
                (long) total,
                Percentiles.of(all, 0.5) / 1e6,
                Percentiles.of(all, 0.99) / 1e6,
                Percentiles.of(all, 0.999) / 1e6,
                all[all.length - 1] / 1e6);
    }

    /** Finds stream-open comments and emit times in a stream's bytes, across reads. */
    private static final class Parser {
        private final StringBuilder line = new StringBuilder(256);

        void feed(
                byte[] bytes,
                int n,
                long now,
                CountDownLatch connected,
                LongAdder received,
                long[] samples,
                int[] count) {
            for (int i = 0; i < n; i++) {
                char c = (char) bytes[i];
                if (c != '\n') {
                    line.append(c);
                    continue;
                }
                if (line.indexOf(": stream open") == 0) {
                    connected.countDown();
                } else if (line.indexOf("data: ") == 0) {
                    int t = line.indexOf("\"t\":");
                    int m = line.indexOf("\"m\":");
                    if (t >= 0 && m >= 0) {
                        long sent = 0;
                        for (int k = t + 4; k < line.length() && Character.isDigit(line.charAt(k)); k++) {
                            sent = sent * 10 + (line.charAt(k) - '0');
                        }
                        if (count[0] < samples.length) {
                            samples[count[0]++] = line.charAt(m + 4) - '0';
                            samples[count[0]++] = now - sent;
                        }
                        received.increment();
                    }
                }
                line.setLength(0);
            }
        }
    }

    private static final int WARM_UP_SECONDS = 15;

    /**
     * Emits {@code count} events at {@code rate} a second from {@code next} on, marked {@code measured} (1) or
     * not (0); returns when the one after is due.
     */
    private static long emit(Keel keel, int rate, int count, long next, int measured, int streams)
            throws InterruptedException {
        long interval = 1_000_000_000L / rate;
        for (int i = 0; i < count; i++) {
            long wait = next - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            next += interval;
            Map<String, Object> data = new java.util.LinkedHashMap<>();
            data.put("m", measured);
            data.put("t", System.nanoTime());
            String type = streams > 0 ? "bench.s" + (i % streams) : "bench.stream";
            keel.emit(Event.builder(type, data).key("k" + i).build()).join();
        }
        return next;
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
