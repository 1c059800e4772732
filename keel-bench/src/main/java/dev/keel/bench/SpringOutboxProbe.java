package dev.keel.bench;

import dev.keel.spring.KeelEvents;
import dev.keel.spring.KeelListener;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ApplicationEventPublisher;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.modulith.events.ApplicationModuleListener;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Keel's Spring Boot transactional outbox against its natural peer, Spring Modulith's JDBC event publication
 * registry, in a non-web Spring Boot application on SQLite (a file, the application's DataSource with a busy
 * timeout, in WAL mode with {@code synchronous=FULL} as Keel's own connections use it, for every contender) and
 * on PostgreSQL (embedded, loopback, {@code fsync} and {@code synchronous_commit} on). Spring Modulith 2.0.3 does
 * not run on SQLite (its registry refuses the database at start-up); the probe says so and goes on.
 *
 * <p>Each transaction (a {@link TransactionTemplate} on the application's DataSource) inserts one row into
 * {@code orders} and publishes one event about it:
 *
 * <ul>
 *   <li>{@code baseline}: the insert alone (neither Keel's nor Spring Modulith's auto-configuration);
 *   <li>{@code keel}: {@link KeelEvents#emit} in the transaction (the {@code keel_outbox} row commits with the
 *       order); a {@link KeelListener} receives it;
 *   <li>{@code modulith}: {@link ApplicationEventPublisher#publishEvent} in the transaction (Spring Modulith's
 *       {@code EventPublicationRegistry} records it in {@code event_publication}); an
 *       {@link ApplicationModuleListener} (asynchronous, after the commit, in a transaction of its own) receives
 *       it.
 * </ul>
 *
 * <p>Every run has a fresh database and Spring context: 2,000 transactions of warm-up, all delivered, then the
 * measured transactions from {@code threads} worker threads. Per run: committed transactions a second (first
 * transaction begun to last committed), commit → delivery latency (the commit's {@code afterCommit} to the
 * listener's first line, per event) and how long after the last commit the last event was delivered. Each listener
 * must receive every event, {@code keel_outbox} must be empty and every publication marked completed, else the
 * probe exits with 1. The contenders take turns run by run; three runs each, medians in a Markdown table.
 * Defaults: {@code all all 1,8 5000}.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.SpringOutboxProbe [sqlite|postgres|all] [baseline|keel|modulith|all] [threads, e.g. 1,8] [transactions]</pre>
 */
public final class SpringOutboxProbe {
    private static final int RUNS = 3;
    private static final int WARM_UP = 2_000;
    private static final String IMPORTS =
            "META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports";
    private static final String KEEL_AUTO = "dev.keel.spring.";
    private static final String MODULITH_AUTO = "org.springframework.modulith.";

    /** The run under way; the listeners (beans of its context) record into it. */
    private static volatile Tracker current;

    private SpringOutboxProbe() {}

    enum Side {
        BASELINE("baseline: insert, no event"),
        KEEL("Keel outbox (`KeelEvents.emit`)"),
        MODULITH("Spring Modulith 2.0.3 (JDBC registry)");

        final String label;

        Side(String label) {
            this.label = label;
        }
    }

    /** One measured run. */
    record Result(double txPerSecond, double p50Ms, double p99Ms, double drainMs) {}

    /** The event; its data carries the transaction's number, so that the listener knows whose commit it follows. */
    public record OrderPlaced(int seq, String orderId, long cents) {}

    public static void main(String[] args) throws Exception {
        String engineArg = args.length > 0 ? args[0] : "all";
        String sideArg = args.length > 1 ? args[1] : "all";
        int[] threadCounts = args.length > 2
                ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray()
                : new int[] {1, 8};
        int transactions = args.length > 3 ? Integer.parseInt(args[3]) : 5_000;
        List<String> engines = engineArg.equals("all") ? List.of("sqlite", "postgres") : List.of(engineArg);
        List<Side> sides = sideArg.equals("all")
                ? List.of(Side.values())
                : List.of(Side.valueOf(sideArg.toUpperCase(java.util.Locale.ROOT)));
        System.out.printf(
                "SpringOutboxProbe %s %s threads %s, %,d transactions after %,d of warm-up, %d runs; JDK %s, %d cpus%n",
                engines,
                sides,
                Arrays.toString(threadCounts),
                transactions,
                WARM_UP,
                RUNS,
                Runtime.version(),
                Runtime.getRuntime().availableProcessors());
        checkAutoConfigurationImports();

        Map<String, List<Result>> results = new LinkedHashMap<>();
        Map<String, String> unsupported = new LinkedHashMap<>();
        boolean ok = true;
        for (String engine : engines) {
            Path dir = Files.createTempDirectory("keel-spring-outbox");
            EmbeddedPostgres pg = engine.equals("postgres")
                    ? EmbeddedPostgres.builder()
                            .setServerConfig("listen_addresses", "127.0.0.1")
                            // The embedded server turns synchronous_commit off by default: commits here are durable.
                            .setServerConfig("synchronous_commit", "on")
                            .setServerConfig("fsync", "on")
                            .start()
                    : null;
            try {
                for (int threads : threadCounts) {
                    for (int run = 1; run <= RUNS; run++) {
                        for (Side side : sides) {
                            String key = engine + "|" + threads + "|" + side;
                            if (unsupported.containsKey(engine + "|" + side)) {
                                continue;
                            }
                            String name = "orders_" + side.name().toLowerCase(java.util.Locale.ROOT) + "_t" + threads
                                    + "_r" + run;
                            String url = pg == null
                                    ? "jdbc:sqlite:" + dir.resolve(name + ".db")
                                            + "?busy_timeout=10000&journal_mode=WAL&synchronous=FULL"
                                    : DurableProbe.url(pg, name);
                            try {
                                Result r = run(engine, url, side, threads, transactions);
                                System.out.printf(
                                        "%s, %d threads, %s, run %d: %,.0f tx/s committed; commit -> delivery p50 %.1f ms,"
                                                + " p99 %.1f ms; all delivered %.0f ms after the last commit%n",
                                        engine, threads, side, run, r.txPerSecond(), r.p50Ms(), r.p99Ms(), r.drainMs());
                                results.computeIfAbsent(key, k -> new ArrayList<>())
                                        .add(r);
                            } catch (Unsupported e) {
                                System.out.printf("%s, %s: cannot run: %s%n", engine, side, e.getMessage());
                                unsupported.put(engine + "|" + side, e.getMessage());
                            } catch (Exception | AssertionError e) {
                                System.out.printf(
                                        "%s, %d threads, %s, run %d FAILED: %s%n", engine, threads, side, run, e);
                                e.printStackTrace(System.out);
                                ok = false;
                            }
                        }
                    }
                }
            } finally {
                if (pg != null) {
                    pg.close();
                }
            }
        }
        printTable(engines, threadCounts, sides, results, unsupported);
        System.exit(ok ? 0 : 1);
    }

    private static Result run(String engine, String url, Side side, int threads, int transactions) throws Exception {
        int total = WARM_UP + transactions;
        Tracker tracker = new Tracker(total);
        current = tracker;
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("spring.datasource.url", url);
        if (engine.equals("postgres")) {
            props.put("spring.datasource.username", "postgres");
        }
        // Room for the workers and Spring Modulith's 8 listener threads (each listener runs in a transaction).
        // Keel opens a pool of its own (keel.jdbc.pool-size, 8) to the same database.
        props.put("spring.datasource.hikari.maximum-pool-size", "16");
        props.put("spring.main.banner-mode", "off");
        props.put("spring.main.log-startup-info", "false");
        props.put("logging.level.root", "WARN");
        props.put("spring.modulith.events.jdbc.schema-initialization.enabled", "true");
        List<String> exclude = new ArrayList<>();
        if (side != Side.KEEL) {
            exclude.addAll(autoConfigurations(KEEL_AUTO));
        }
        if (side != Side.MODULITH) {
            exclude.addAll(autoConfigurations(MODULITH_AUTO));
        }
        props.put("spring.autoconfigure.exclude", String.join(",", exclude));
        Class<?> listeners =
                switch (side) {
                    case BASELINE -> NoListener.class;
                    case KEEL -> KeelSide.class;
                    case MODULITH -> ModulithSide.class;
                };
        ConfigurableApplicationContext ctx;
        try {
            ctx = new SpringApplicationBuilder(App.class, listeners)
                    .web(WebApplicationType.NONE)
                    .properties(props)
                    .run();
        } catch (RuntimeException e) {
            if (side == Side.MODULITH && engine.equals("sqlite")) {
                throw new Unsupported(rootCause(e));
            }
            throw e;
        }
        try {
            JdbcTemplate jdbc = ctx.getBean(JdbcTemplate.class);
            jdbc.execute("CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, customer VARCHAR(64) NOT NULL,"
                    + " cents BIGINT NOT NULL, created_at BIGINT NOT NULL)");
            TransactionTemplate tx = ctx.getBean(TransactionTemplate.class);
            Publisher publisher =
                    switch (side) {
                        case BASELINE -> e -> {};
                        case KEEL -> {
                            KeelEvents events = ctx.getBean(KeelEvents.class);
                            yield e -> {
                                if (!events.joinsTransaction()) {
                                    throw new AssertionError("KeelEvents does not join the transaction: no outbox");
                                }
                                events.emit("order.placed", e.orderId(), e);
                            };
                        }
                        case MODULITH -> {
                            // The registry is there, or this throws (spring-modulith-events-core is a runtime
                            // dependency of the starter).
                            ctx.getBean(
                                    Class.forName("org.springframework.modulith.events.core.EventPublicationRegistry"));
                            ApplicationEventPublisher events = ctx;
                            yield events::publishEvent;
                        }
                    };

            // Warm-up: the JIT, the pools, the first pages of every table; all delivered before measuring.
            transact(jdbc, tx, publisher, tracker, 0, WARM_UP, threads);
            if (side != Side.BASELINE) {
                tracker.awaitDelivered(WARM_UP);
            }
            long start = System.nanoTime();
            transact(jdbc, tx, publisher, tracker, WARM_UP, total, threads);
            long committed = System.nanoTime();
            long drained = committed;
            if (side != Side.BASELINE) {
                tracker.awaitDelivered(total);
                drained = System.nanoTime();
            }

            Integer rows = jdbc.queryForObject("SELECT COUNT(*) FROM orders", Integer.class);
            if (rows == null || rows != total) {
                throw new AssertionError("orders holds " + rows + " rows, expected " + total);
            }
            double p50 = 0;
            double p99 = 0;
            if (side != Side.BASELINE) {
                if (tracker.delivered.sum() != total) {
                    throw new AssertionError(side + " delivered " + tracker.delivered.sum() + " of " + total);
                }
                // Events delivered over 100 ms after their commit, grouped into stretches of nearby transactions:
                // one stall of the delivery path shows as one stretch, a per-event cost as many.
                StringBuilder stretches = new StringBuilder();
                int stretchCount = 0;
                int first = -1;
                int last = -10;
                for (int i = WARM_UP; i <= total; i++) {
                    boolean slow = i < total && tracker.deliveredAt.get(i) - tracker.committedAt.get(i) > 100_000_000L;
                    if (slow && i - last > 10) {
                        if (first >= 0) {
                            stretchCount++;
                            if (stretchCount <= 5) {
                                stretches
                                        .append(' ')
                                        .append(first - WARM_UP)
                                        .append('-')
                                        .append(last - WARM_UP);
                            }
                        }
                        first = i;
                    }
                    if (slow) {
                        last = i;
                    }
                    if (i == total && first >= 0) {
                        stretchCount++;
                        if (stretchCount <= 5) {
                            stretches
                                    .append(' ')
                                    .append(first - WARM_UP)
                                    .append('-')
                                    .append(last - WARM_UP);
                        }
                    }
                }
                System.out.printf(
                        "  %d stretches of transactions delivered over 100 ms late:%s%n", stretchCount, stretches);
                long[] latencies = new long[transactions];
                for (int i = WARM_UP; i < total; i++) {
                    latencies[i - WARM_UP] = Math.max(0, tracker.deliveredAt.get(i) - tracker.committedAt.get(i));
                }
                Arrays.sort(latencies);
                p50 = Percentiles.of(latencies, 0.50) / 1e6;
                p99 = Percentiles.of(latencies, 0.99) / 1e6;
                checkBookkeeping(jdbc, side, total);
                long over100 =
                        Arrays.stream(latencies).filter(l -> l > 100_000_000L).count();
                System.out.printf(
                        "  listener thread %s; %d duplicate deliveries; commit -> delivery p90 %.1f ms, p99.9 %.1f ms,"
                                + " max %.1f ms, %d over 100 ms%n",
                        tracker.listenerThread.get(),
                        tracker.duplicates.sum(),
                        Percentiles.of(latencies, 0.90) / 1e6,
                        Percentiles.of(latencies, 0.999) / 1e6,
                        latencies[latencies.length - 1] / 1e6,
                        over100);
            }
            return new Result(transactions / ((committed - start) / 1e9), p50, p99, (drained - committed) / 1e6);
        } finally {
            ctx.close();
            current = null;
        }
    }

    /** Transactions {@code from} to {@code to} (exclusive) from {@code threads} threads. */
    private static void transact(
            JdbcTemplate jdbc,
            TransactionTemplate tx,
            Publisher publisher,
            Tracker tracker,
            int from,
            int to,
            int threads)
            throws InterruptedException {
        AtomicInteger next = new AtomicInteger(from);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            workers.add(Thread.ofPlatform().name("worker-" + t).start(() -> {
                int seq;
                while (failure.get() == null && (seq = next.getAndIncrement()) < to) {
                    int n = seq;
                    try {
                        tx.executeWithoutResult(status -> {
                            TransactionSynchronizationManager.registerSynchronization(new CommitClock(tracker, n));
                            String id = "o-" + n;
                            long cents = 100 + n % 10_000;
                            jdbc.update(
                                    "INSERT INTO orders (id, customer, cents, created_at) VALUES (?, ?, ?, ?)",
                                    id,
                                    "c-" + (n % 1_000),
                                    cents,
                                    System.currentTimeMillis());
                            publisher.publish(new OrderPlaced(n, id, cents));
                        });
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }
            }));
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a transaction failed", failure.get());
        }
    }

    /** What each contender leaves behind once everything is delivered. */
    private static void checkBookkeeping(JdbcTemplate jdbc, Side side, int total) throws InterruptedException {
        if (side == Side.KEEL) {
            // The relay deletes a row in the transaction that appends its event, before the event is delivered.
            Integer left = jdbc.queryForObject("SELECT COUNT(*) FROM keel_outbox", Integer.class);
            System.out.printf("  keel_outbox rows left: %d%n", left);
            if (left == null || left != 0) {
                throw new AssertionError(left + " rows left in keel_outbox after every event was delivered");
            }
        } else if (side == Side.MODULITH) {
            Integer all = jdbc.queryForObject("SELECT COUNT(*) FROM event_publication", Integer.class);
            if (all == null || all != total) {
                throw new AssertionError("event_publication holds " + all + " publications, expected " + total);
            }
            // The listener returns before Spring Modulith marks the publication completed; give it a moment.
            long deadline = System.nanoTime() + 30_000_000_000L;
            Integer open;
            do {
                open = jdbc.queryForObject(
                        "SELECT COUNT(*) FROM event_publication WHERE completion_date IS NULL", Integer.class);
            } while (open != null && open > 0 && System.nanoTime() < deadline && sleep());
            System.out.printf("  event_publication: %d publications, %d not marked completed%n", all, open);
            if (open == null || open != 0) {
                throw new AssertionError(open + " event publications not marked completed within 30 s");
            }
        }
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(50);
        return true;
    }

    /**
     * The auto-configuration classes of that package prefix, as the classpath lists them; fails when the merged
     * imports file of a shaded jar lost Keel's or Spring Modulith's (auto-configuration would then do nothing).
     */
    private static List<String> autoConfigurations(String prefix) throws Exception {
        List<String> found = new ArrayList<>();
        Enumeration<URL> urls = SpringOutboxProbe.class.getClassLoader().getResources(IMPORTS);
        while (urls.hasMoreElements()) {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(urls.nextElement().openStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    line = line.strip();
                    if (line.startsWith(prefix)) {
                        found.add(line);
                    }
                }
            }
        }
        return found;
    }

    private static void checkAutoConfigurationImports() throws Exception {
        for (String required : List.of(
                "dev.keel.spring.autoconfigure.KeelAutoConfiguration",
                "org.springframework.modulith.events.jdbc.JdbcEventPublicationAutoConfiguration",
                "org.springframework.modulith.events.config.EventPublicationAutoConfiguration",
                "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration")) {
            String prefix = required.substring(0, required.indexOf('.', required.indexOf('.') + 1) + 1);
            if (!autoConfigurations(prefix).contains(required)) {
                throw new IllegalStateException(required + " is missing from " + IMPORTS
                        + " on the classpath: the jar's auto-configuration imports were not merged");
            }
        }
    }

    private static String rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    private static void printTable(
            List<String> engines,
            int[] threadCounts,
            List<Side> sides,
            Map<String, List<Result>> results,
            Map<String, String> unsupported) {
        System.out.println();
        System.out.println("| database | threads | contender | committed tx/s | ÷ baseline | commit → delivery p50 |"
                + " p99 | all delivered after the last commit |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (String engine : engines) {
            for (int threads : threadCounts) {
                List<Result> base = results.get(engine + "|" + threads + "|" + Side.BASELINE);
                double baseRate = base == null ? Double.NaN : median(base, Result::txPerSecond);
                for (Side side : sides) {
                    List<Result> rs = results.get(engine + "|" + threads + "|" + side);
                    if (rs == null || rs.isEmpty()) {
                        String why = unsupported.getOrDefault(engine + "|" + side, "no run succeeded");
                        System.out.printf("| %s | %d | %s | n/a: %s | | | | |%n", engine, threads, side.label, why);
                        continue;
                    }
                    double rate = median(rs, Result::txPerSecond);
                    String rates = rs.stream()
                            .map(r -> String.format("%,.0f", r.txPerSecond()))
                            .reduce((a, b) -> a + ", " + b)
                            .orElse("");
                    if (side == Side.BASELINE) {
                        System.out.printf(
                                "| %s | %d | %s | %,.0f (%s) | 1.00 | — | — | — |%n",
                                engine, threads, side.label, rate, rates);
                    } else {
                        System.out.printf(
                                "| %s | %d | %s | %,.0f (%s) | %.2f | %.1f ms | %.1f ms | %.0f ms |%n",
                                engine,
                                threads,
                                side.label,
                                rate,
                                rates,
                                rate / baseRate,
                                median(rs, Result::p50Ms),
                                median(rs, Result::p99Ms),
                                median(rs, Result::drainMs));
                    }
                }
            }
        }
    }

    private static double median(List<Result> rs, java.util.function.ToDoubleFunction<Result> f) {
        double[] v = rs.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    @FunctionalInterface
    private interface Publisher {
        void publish(OrderPlaced event);
    }

    /** A contender that cannot run on that database (Spring Modulith's registry on SQLite). */
    private static final class Unsupported extends Exception {
        private static final long serialVersionUID = 1L;

        Unsupported(String message) {
            super(message);
        }
    }

    /** Per-transaction commit and delivery times of one run. */
    private static final class Tracker {
        final AtomicLongArray committedAt;
        final AtomicLongArray deliveredAt;
        final LongAdder delivered = new LongAdder();
        final LongAdder duplicates = new LongAdder();
        final AtomicReference<String> listenerThread = new AtomicReference<>();

        Tracker(int total) {
            committedAt = new AtomicLongArray(total);
            deliveredAt = new AtomicLongArray(total);
        }

        void delivered(OrderPlaced event) {
            long now = System.nanoTime();
            listenerThread.compareAndSet(null, Thread.currentThread().getName());
            if (deliveredAt.compareAndSet(event.seq(), 0, now)) {
                delivered.increment();
            } else {
                duplicates.increment();
            }
        }

        void awaitDelivered(int count) {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (delivered.sum() < count) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("only " + delivered.sum() + " of " + count + " events delivered in 120 s");
                }
                LockSupport.parkNanos(500_000);
            }
        }
    }

    /** Records when the transaction committed, before any other after-commit work (Keel's wake-up, Modulith's). */
    private record CommitClock(Tracker tracker, int seq) implements TransactionSynchronization {
        @Override
        public int getOrder() {
            return Ordered.HIGHEST_PRECEDENCE;
        }

        @Override
        public void afterCommit() {
            tracker.committedAt.set(seq, System.nanoTime());
        }
    }

    private static void record(OrderPlaced event) {
        Tracker t = current;
        if (t != null) {
            t.delivered(event);
        }
    }

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {}

    @Configuration(proxyBeanMethods = false)
    static class NoListener {}

    @Configuration(proxyBeanMethods = false)
    static class KeelSide {
        @Bean
        KeelCounter keelCounter() {
            return new KeelCounter();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ModulithSide {
        @Bean
        ModulithCounter modulithCounter() {
            return new ModulithCounter();
        }
    }

    /** Keel's listener: counts deliveries and times them. */
    public static class KeelCounter {
        @KeelListener(subscription = "order-probe", types = "order.*")
        public void on(OrderPlaced event) {
            record(event);
        }
    }

    /** Spring Modulith's listener: asynchronous, after the commit, in a transaction of its own. */
    public static class ModulithCounter {
        @ApplicationModuleListener
        public void on(OrderPlaced event) {
            record(event);
        }
    }
}
