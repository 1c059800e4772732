package dev.keel.bench;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.spi.Journal;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * Durable end-to-end figures on SQLite and PostgreSQL (a real PostgreSQL 17 started on loopback):
 *
 * <ul>
 *   <li>{@code throughput}: emit {@code events} events (5,000 awaiting the journal at most) on 8 lanes to one
 *       no-op subscription; time until every event is delivered and its cursor committed. One warm-up round,
 *       then five measured rounds on the same runtime and journal; the median is reported. Beside it, a naive
 *       baseline on the same database: one transaction per enqueue, one per execution.
 *   <li>{@code keyed}: the same as {@code throughput} for Keel alone, each event with its own idempotency key, so
 *       every append claims a dedup key, as events ingested over HTTP do (a CloudEvent's source and id).
 *   <li>{@code latency}: emit at a steady {@code rate} for 10 s; emit → durable acknowledgement percentiles.
 *   <li>{@code restart}: leave {@code events} events pending, close, build a new runtime on the same journal;
 *       time from build to the first delivery.
 * </ul>
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.DurableProbe [throughput|keyed|latency|restart] [sqlite|postgres] [events|rate]</pre>
 */
public final class DurableProbe {
    /** Measured rounds of the throughput run, after one round of the same size that warms the JIT up. */
    private static final int ROUNDS = 5;

    private DurableProbe() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "throughput";
        String engine = args.length > 1 ? args[1] : "sqlite";
        long n = args.length > 2 ? Long.parseLong(args[2]) : mode.equals("latency") ? 10_000 : 200_000;
        System.out.printf(
                "%s on %s (%,d), JDK %s, %d cpus%n",
                mode, engine, n, Runtime.version(), Runtime.getRuntime().availableProcessors());
        Path dir = Files.createTempDirectory("keel-durable");
        EmbeddedPostgres pg = engine.equals("postgres")
                ? EmbeddedPostgres.builder()
                        .setServerConfig("listen_addresses", "127.0.0.1")
                        .start()
                : null;
        try {
            switch (mode) {
                case "throughput" -> {
                    keelThroughput(journal(engine, dir, pg, "keel"), (int) n, false);
                    naiveThroughput(engine, dir, pg, (int) Math.min(n, 20_000));
                    DbSchedulerPeer.run(
                            pg == null ? "jdbc:sqlite:" + dir.resolve("dbscheduler.db") : url(pg, "dbscheduler"),
                            pg != null,
                            (int) Math.min(n, 20_000));
                    JobRunrPeer.run(
                            pg == null ? "jdbc:sqlite:" + dir.resolve("jobrunr.db") : url(pg, "jobrunr"),
                            pg != null,
                            (int) Math.min(n, 20_000));
                }
                case "keyed" -> keelThroughput(journal(engine, dir, pg, "keel"), (int) n, true);
                case "latency" -> emitLatency(journal(engine, dir, pg, "keel"), (int) n);
                case "restart" -> restart(engine, dir, pg, (int) n);
                default -> throw new IllegalArgumentException("mode must be throughput, keyed, latency or restart");
            }
        } finally {
            if (pg != null) {
                pg.close();
            }
        }
    }

    private static Journal journal(String engine, Path dir, EmbeddedPostgres pg, String db) throws Exception {
        if (pg == null) {
            return JdbcJournal.sqlite(dir.resolve(db + ".db"));
        }
        return JdbcJournal.postgres(url(pg, db), "postgres", null);
    }

    /** A database of that name on the embedded server, created when missing; its JDBC URL. */
    static String url(EmbeddedPostgres pg, String db) throws Exception {
        try (Connection c = pg.getPostgresDatabase().getConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + db + "'")) {
            if (!r.next()) {
                s.execute("CREATE DATABASE " + db);
            }
        }
        return "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/" + db;
    }

    private static void keelThroughput(Journal journal, int events, boolean keyed) throws Exception {
        LongAdder delivered = new LongAdder();
        try (Keel keel = Keel.builder().lanes(8).journal(journal).build()) {
            keel.subscribe(Subscription.builder("bench")
                    .types("bench.event")
                    .handler(Object.class, d -> delivered.increment())
                    .build());
            keel.start();
            Semaphore window = new Semaphore(5_000);
            double[] rates = new double[ROUNDS];
            for (int round = 0; round <= ROUNDS; round++) {
                long target = delivered.sum() + events;
                long start = System.nanoTime();
                for (int i = 0; i < events; i++) {
                    window.acquire();
                    String key = "key-" + (i & 1023);
                    (keyed
                                    ? keel.emit(Event.builder("bench.event", (Object) i)
                                            .key(key)
                                            .idempotencyKey("r" + round + "-" + i)
                                            .build())
                                    : keel.emit("bench.event", key, i))
                            .whenComplete((r, e) -> window.release());
                }
                while (delivered.sum() < target
                        || keel.stats().subscription("bench").lag() > 0) {
                    LockSupport.parkNanos(1_000_000);
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf(
                        "keel %s: %,d events emitted, delivered and committed in %.2f s: %,.0f events/s%n",
                        round == 0 ? "warm-up" : "round " + round, events, seconds, events / seconds);
                if (round > 0) {
                    rates[round - 1] = events / seconds;
                }
            }
            Arrays.sort(rates);
            System.out.printf(
                    "keel: median of %d rounds after warm-up: %,.0f events/s (min %,.0f, max %,.0f)%n",
                    ROUNDS, rates[ROUNDS / 2], rates[0], rates[ROUNDS - 1]);
        }
    }

    /** One transaction per enqueue, one per execution: what a simple table-backed queue does. */
    private static void naiveThroughput(String engine, Path dir, EmbeddedPostgres pg, int events) throws Exception {
        String url = pg == null ? "jdbc:sqlite:" + dir.resolve("naive.db") : url(pg, "naive");
        boolean postgres = pg != null;
        try (Connection setup = connect(url)) {
            try (Statement s = setup.createStatement()) {
                if (postgres) {
                    s.execute(
                            "CREATE TABLE IF NOT EXISTS naive_queue (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, done INTEGER NOT NULL)");
                } else {
                    s.execute("PRAGMA journal_mode=WAL");
                    s.execute(
                            "CREATE TABLE IF NOT EXISTS naive_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, done INTEGER NOT NULL)");
                }
                s.execute("CREATE INDEX IF NOT EXISTS naive_pending ON naive_queue (done, id)");
            }
        }
        AtomicLong executed = new AtomicLong();
        Thread consumer = Thread.ofPlatform().start(() -> {
            String pick = postgres
                    ? "SELECT id FROM naive_queue WHERE done = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                    : "SELECT id FROM naive_queue WHERE done = 0 ORDER BY id LIMIT 1";
            try (Connection c = connect(url)) {
                c.setAutoCommit(false);
                try (PreparedStatement select = c.prepareStatement(pick);
                        PreparedStatement mark = c.prepareStatement("UPDATE naive_queue SET done = 1 WHERE id = ?")) {
                    while (executed.get() < events) {
                        try (ResultSet r = select.executeQuery()) {
                            if (r.next()) {
                                mark.setLong(1, r.getLong(1));
                                mark.executeUpdate();
                                executed.incrementAndGet();
                            }
                        }
                        c.commit();
                    }
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long start = System.nanoTime();
        try (Connection c = connect(url);
                PreparedStatement insert =
                        c.prepareStatement("INSERT INTO naive_queue (payload, done) VALUES (?, 0)")) {
            for (int i = 0; i < events; i++) {
                insert.setString(1, "{\"n\":" + i + "}");
                insert.executeUpdate();
            }
        }
        consumer.join();
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf(
                "naive one-transaction-per-event: %,d events in %.2f s: %,.0f events/s%n",
                events, seconds, events / seconds);
    }

    private static Connection connect(String url) throws Exception {
        if (url.startsWith("jdbc:postgresql:")) {
            return DriverManager.getConnection(url, "postgres", null);
        }
        // Immediate transactions and a busy timeout: without them two SQLite connections fail with SQLITE_BUSY.
        org.sqlite.SQLiteConfig config = new org.sqlite.SQLiteConfig();
        config.setBusyTimeout(10_000);
        config.setTransactionMode(org.sqlite.SQLiteConfig.TransactionMode.IMMEDIATE);
        config.setSynchronous(org.sqlite.SQLiteConfig.SynchronousMode.FULL);
        return config.createConnection(url);
    }

    private static void emitLatency(Journal journal, int rate) throws Exception {
        int seconds = 10;
        int warmup = 5;
        long[] samples = new long[rate * seconds];
        AtomicLong recorded = new AtomicLong();
        try (Keel keel = Keel.builder().lanes(8).journal(journal).build()) {
            keel.subscribe(Subscription.builder("bench")
                    .types("bench.event")
                    .handler(Object.class, d -> {})
                    .build());
            keel.start();
            long interval = 1_000_000_000L / rate;
            long start = System.nanoTime();
            long total = (long) rate * (seconds + warmup);
            for (long i = 0; i < total; i++) {
                long due = start + i * interval;
                long now;
                while ((now = System.nanoTime()) < due) {
                    // Parks, never spins: on a small machine a spinning producer takes a core from the runtime.
                    LockSupport.parkNanos(due - now);
                }
                long sent = System.nanoTime();
                boolean record = i >= (long) rate * warmup;
                keel.emit("bench.event", "key-" + (i & 1023), i).whenComplete((r, e) -> {
                    if (record && e == null) {
                        long at = recorded.getAndIncrement();
                        if (at < samples.length) {
                            samples[(int) at] = System.nanoTime() - sent;
                        }
                    }
                });
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (recorded.get() < samples.length && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        }
        long[] s = Arrays.copyOf(samples, (int) Math.min(recorded.get(), samples.length));
        Arrays.sort(s);
        System.out.printf(
                "emit → durable ack at %,d/s: n=%,d p50=%.2f ms p99=%.2f ms p99.9=%.2f ms max=%.2f ms%n",
                rate, s.length, pct(s, 0.5), pct(s, 0.99), pct(s, 0.999), s[s.length - 1] / 1e6);
    }

    private static double pct(long[] sorted, double p) {
        return Percentiles.of(sorted, p) / 1e6;
    }

    private static void restart(String engine, Path dir, EmbeddedPostgres pg, int events) throws Exception {
        try (Keel keel = Keel.builder()
                .lanes(8)
                .intake(0, Duration.ZERO) // leave the backlog pending: nothing delivers in this phase
                .journal(journal(engine, dir, pg, "restart"))
                .build()) {
            keel.subscribe(Subscription.builder("bench")
                    .types("bench.event")
                    .handler(Object.class, d -> {})
                    .build());
            Semaphore window = new Semaphore(5_000);
            for (int i = 0; i < events; i++) {
                window.acquire();
                keel.emit("bench.event", "key-" + (i & 1023), i).whenComplete((r, e) -> window.release());
            }
            window.acquire(5_000);
        }
        AtomicLong first = new AtomicLong();
        long start = System.nanoTime();
        try (Keel keel = Keel.builder()
                .lanes(8)
                .journal(journal(engine, dir, pg, "restart"))
                .build()) {
            keel.subscribe(Subscription.builder("bench")
                    .types("bench.event")
                    .handler(Object.class, d -> {
                        first.compareAndSet(0, System.nanoTime());
                    })
                    .build());
            keel.start();
            while (first.get() == 0) {
                LockSupport.parkNanos(100_000);
            }
            System.out.printf(
                    "restart with %,d events pending: first delivery %.0f ms after build started%n",
                    events, (first.get() - start) / 1e6);
            keel.close(Duration.ZERO);
        }
    }
}
