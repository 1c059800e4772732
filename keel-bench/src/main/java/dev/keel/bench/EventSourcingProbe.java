package dev.keel.bench;

import dev.keel.Keel;
import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Committed;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.ExpectedVersion;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.NewEvent;
import dev.keel.eventsourcing.spi.StreamWrite;
import dev.keel.jdbc.JdbcJournal;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Event-sourcing figures on SQLite (the embedded default) or PostgreSQL (a real PostgreSQL 17 on loopback), with
 * an account aggregate whose deposits are one small event each:
 *
 * <ul>
 *   <li>{@code replay}: one stream of {@code n} events; load and fold it with no cache and no snapshot, one
 *       warm-up and five measured rounds; events per second, median.
 *   <li>{@code commands}: {@code n} deposits spread over 1,000 accounts, 4,000 awaiting at most, each decided,
 *       appended durably (group commit) and published to the log; commands per second, median of five rounds
 *       after a warm-up. On PostgreSQL, the same load on Axon Framework 4.13 follows ({@link AxonPeer}).
 *   <li>{@code steady}: deposits at {@code n} per second for {@code seconds} (default 60), with a spike to twice
 *       the rate for a tenth of the run in its middle; send → durable latency percentiles per window of 10 s
 *       and for the whole run, and the heap after a full collection at the start and at the end (and every 5
 *       minutes on runs of 15 minutes or more).
 * </ul>
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.EventSourcingProbe [replay|commands|steady] [sqlite|postgres] [n] [seconds]</pre>
 */
public final class EventSourcingProbe {
    private static final int ROUNDS = 5;
    private static final int ACCOUNTS = 1_000;

    private EventSourcingProbe() {}

    /** An account's commands. */
    sealed interface AccountCommand permits Deposit {}

    /** Deposits an amount. */
    record Deposit(long cents, String reference) implements AccountCommand {}

    /** An account's events. */
    sealed interface AccountEvent permits Deposited {}

    /** An amount was deposited. */
    record Deposited(long cents, String reference) implements AccountEvent {}

    /** An account's balance and how many deposits made it. */
    record Balance(long cents, long deposits) {}

    static final Decider<AccountCommand, Balance, AccountEvent> ACCOUNT = Decider.of(
            new Balance(0, 0),
            (c, s) -> switch (c) {
                case Deposit d when d.cents() <= 0 -> Decision.reject("not-positive", "deposit a positive amount");
                case Deposit d -> Decision.<AccountEvent>accept(new Deposited(d.cents(), d.reference()));
            },
            (s, e) -> switch (e) {
                case Deposited d -> new Balance(s.cents() + d.cents(), s.deposits() + 1);
            });

    static final AggregateType<AccountCommand, Balance, AccountEvent> ACCOUNTS_TYPE = AggregateType.builder(
                    "account", ACCOUNT, AccountCommand.class, AccountEvent.class)
            .build();

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "commands";
        String engine = args.length > 1 ? args[1] : "sqlite";
        long n = args.length > 2
                ? Long.parseLong(args[2])
                : switch (mode) {
                    case "replay" -> 200_000;
                    case "steady" -> 1_000;
                    default -> 100_000;
                };
        int seconds = args.length > 3 ? Integer.parseInt(args[3]) : 60;
        System.out.printf(
                "%s on %s (%,d), JDK %s, %d cpus%n",
                mode, engine, n, Runtime.version(), Runtime.getRuntime().availableProcessors());
        Path dir = Files.createTempDirectory("keel-es");
        EmbeddedPostgres pg = engine.equals("postgres")
                ? EmbeddedPostgres.builder()
                        .setServerConfig("listen_addresses", "127.0.0.1")
                        .start()
                : null;
        JdbcJournal journal = pg == null
                ? JdbcJournal.sqlite(dir.resolve("keel.db"))
                : JdbcJournal.postgres(DurableProbe.url(pg, "keel"), "postgres", null);
        try (Keel keel = Keel.builder().lanes(8).journal(journal).build().start()) {
            EventStore store = journal.eventStore();
            switch (mode) {
                case "replay" -> replay(keel, store, (int) n);
                case "commands" -> {
                    commands(keel, store, (int) n);
                    if (pg != null) {
                        double axon = AxonPeer.commands(DurableProbe.url(pg, "axon"), (int) n, ACCOUNTS);
                        System.out.printf(
                                "Axon Framework 4.13 median: %,.0f commands/s (JDBC engine, same PostgreSQL)%n", axon);
                    }
                }
                case "steady" -> steady(keel, store, (int) n, seconds);
                default -> throw new IllegalArgumentException("mode must be replay, commands or steady");
            }
        } finally {
            if (pg != null) {
                pg.close();
            }
        }
    }

    private static void replay(Keel keel, EventStore store, int events) throws Exception {
        String stream = ACCOUNTS_TYPE.stream("long");
        int batch = 500;
        for (int at = 0; at < events; at += batch) {
            List<NewEvent> page = new ArrayList<>(batch);
            List<dev.keel.Event<?>> published = new ArrayList<>(batch);
            for (int i = 0; i < batch && at + i < events; i++) {
                Deposited d = new Deposited(100, "ref-" + (at + i));
                String id = dev.keel.EventIds.next(System.currentTimeMillis());
                page.add(new NewEvent(
                        id,
                        "account.deposited",
                        1,
                        ("{\"cents\":100,\"reference\":\"ref-" + (at + i) + "\"}").getBytes(StandardCharsets.UTF_8),
                        Map.of()));
                published.add(dev.keel.Event.builder("account.deposited", (Object) d)
                        .id(id)
                        .key(stream)
                        .build());
            }
            store.append(
                            new StreamWrite(stream, "account", ExpectedVersion.exactly(at), page, null, null, null),
                            through -> keel.emitThrough(published, through))
                    .get(60, TimeUnit.SECONDS);
        }
        try (EventSourcing es = EventSourcing.builder(keel, store)
                .register(ACCOUNTS_TYPE)
                .cacheSize(0)
                .carryCommands(false)
                .build()) {
            double[] rates = new double[ROUNDS];
            for (int round = 0; round <= ROUNDS; round++) {
                long start = System.nanoTime();
                var state = es.load(ACCOUNTS_TYPE, "long");
                long nanos = System.nanoTime() - start;
                if (state.version() != events || state.state().deposits() != events) {
                    throw new IllegalStateException("folded " + state.version() + " events, not " + events);
                }
                double rate = events / (nanos / 1e9);
                System.out.printf(
                        "  %s round: %,d events folded in %d ms: %,.0f events/s%n",
                        round == 0 ? "warm-up" : "measured", events, nanos / 1_000_000, rate);
                if (round > 0) {
                    rates[round - 1] = rate;
                }
            }
            Arrays.sort(rates);
            System.out.printf("replay median: %,.0f events/s%n", rates[ROUNDS / 2]);
        }
    }

    private static void commands(Keel keel, EventStore store, int commands) throws Exception {
        try (EventSourcing es = EventSourcing.builder(keel, store)
                .register(ACCOUNTS_TYPE)
                .carryCommands(false)
                .build()) {
            Semaphore window = new Semaphore(4_000);
            double[] rates = new double[ROUNDS];
            AtomicLong failed = new AtomicLong();
            for (int round = 0; round <= ROUNDS; round++) {
                long start = System.nanoTime();
                for (int i = 0; i < commands; i++) {
                    window.acquire();
                    es.send("a-" + (i % ACCOUNTS), new Deposit(100, "r" + i)).whenComplete((c, e) -> {
                        if (e != null) {
                            failed.incrementAndGet();
                        }
                        window.release();
                    });
                }
                window.acquire(4_000);
                window.release(4_000);
                long nanos = System.nanoTime() - start;
                double rate = commands / (nanos / 1e9);
                System.out.printf(
                        "  %s round: %,d commands in %d ms: %,.0f commands/s%n",
                        round == 0 ? "warm-up" : "measured", commands, nanos / 1_000_000, rate);
                if (round > 0) {
                    rates[round - 1] = rate;
                }
            }
            if (failed.get() > 0) {
                throw new IllegalStateException(failed.get() + " commands failed");
            }
            Arrays.sort(rates);
            System.out.printf("commands median: %,.0f commands/s (durable, published to the log)%n", rates[ROUNDS / 2]);
        }
    }

    private static void steady(Keel keel, EventStore store, int rate, int seconds) throws Exception {
        try (EventSourcing es = EventSourcing.builder(keel, store)
                .register(ACCOUNTS_TYPE)
                .carryCommands(false)
                .build()) {
            // Every latency, in an array sized for the whole run up front: the probe's own memory stays flat, so
            // the heap figures are the runtime's.
            Samples all = new Samples((int) Math.min(Integer.MAX_VALUE - 8, (long) rate * seconds * 12 / 10 + 10_000));
            System.out.printf("heap at start: %,d MB%n", heapAfterGc());
            ConcurrentLinkedQueue<long[]> samples = new ConcurrentLinkedQueue<>();
            AtomicLong failed = new AtomicLong();
            long start = System.nanoTime();
            long spikeFrom = start + TimeUnit.SECONDS.toNanos(seconds) * 45 / 100;
            long spikeTo = start + TimeUnit.SECONDS.toNanos(seconds) * 55 / 100;
            long end = start + TimeUnit.SECONDS.toNanos(seconds);
            long next = start;
            long sent = 0;
            List<long[]> window = new ArrayList<>();
            long windowStart = start;
            // On long runs, the heap after a full collection every 5 minutes, to see whether it levels off.
            long heapEvery = seconds >= 900 ? 300 : 0;
            long lastHeapAt = 0;
            while (true) {
                long now = System.nanoTime();
                if (now >= end) {
                    break;
                }
                long interval =
                        now >= spikeFrom && now < spikeTo ? 1_000_000_000L / (2L * rate) : 1_000_000_000L / rate;
                if (now < next) {
                    LockSupport.parkNanos(Math.min(next - now, 1_000_000));
                    continue;
                }
                long scheduled = next;
                next += interval;
                CompletableFuture<Committed> f = es.send("a-" + (sent % ACCOUNTS), new Deposit(100, "r" + sent));
                sent++;
                f.whenComplete((c, e) -> {
                    if (e != null) {
                        failed.incrementAndGet();
                    }
                    // From when it was due, so a stalled sender shows up as latency (no coordinated omission).
                    samples.add(new long[] {scheduled, System.nanoTime() - scheduled});
                });
                if (now - windowStart >= 10_000_000_000L) {
                    report(samples, window, all, windowStart, start);
                    windowStart = now;
                    if (heapEvery > 0 && (now - start) / 1_000_000_000L / heapEvery != lastHeapAt) {
                        lastHeapAt = (now - start) / 1_000_000_000L / heapEvery;
                        System.out.printf(
                                "  heap after a full collection at t=%ds: %,d MB%n",
                                (now - start) / 1_000_000_000L, heapAfterGc());
                    }
                }
            }
            Thread.sleep(2_000);
            report(samples, window, all, windowStart, start);
            long[] sorted = all.sorted();
            System.out.printf(
                    "whole run: %,d commands, %d failed; p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms%n",
                    sorted.length,
                    failed.get(),
                    Percentiles.of(sorted, 0.50) / 1e6,
                    Percentiles.of(sorted, 0.95) / 1e6,
                    Percentiles.of(sorted, 0.99) / 1e6,
                    sorted[sorted.length - 1] / 1e6);
            System.out.printf("heap at end: %,d MB%n", heapAfterGc());
        }
    }

    private static void report(
            ConcurrentLinkedQueue<long[]> samples, List<long[]> window, Samples all, long from, long start) {
        long[] s;
        window.clear();
        while ((s = samples.poll()) != null) {
            window.add(s);
            all.add(s[1]);
        }
        if (window.isEmpty()) {
            return;
        }
        long[] sorted = window.stream().mapToLong(x -> x[1]).sorted().toArray();
        System.out.printf(
                "  t=%3ds: %,6d done, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms%n",
                (from - start) / 1_000_000_000L,
                sorted.length,
                Percentiles.of(sorted, 0.50) / 1e6,
                Percentiles.of(sorted, 0.95) / 1e6,
                Percentiles.of(sorted, 0.99) / 1e6);
    }

    /** Latencies in a primitive array allocated once (it grows only past the size it was given). */
    private static final class Samples {
        private long[] values;
        private int size;

        Samples(int capacity) {
            this.values = new long[capacity];
        }

        void add(long value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, values.length * 2);
            }
            values[size++] = value;
        }

        long[] sorted() {
            long[] out = Arrays.copyOf(values, size);
            Arrays.sort(out);
            return out;
        }
    }

    private static long heapAfterGc() throws InterruptedException {
        System.gc();
        Thread.sleep(200);
        Runtime r = Runtime.getRuntime();
        return (r.totalMemory() - r.freeMemory()) / (1 << 20);
    }
}
