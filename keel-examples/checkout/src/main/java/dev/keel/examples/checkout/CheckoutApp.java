package dev.keel.examples.checkout;

import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The checkout reference application on the embedded default (a SQLite file), in two modes:
 *
 * <ul>
 *   <li>{@code run [orders]} (200 by default): stocks two products, places the orders (a tenth with a declined
 *       card, a tenth with a payment that never answers, a fifth for a product that runs short), prints the
 *       checkouts' steps each second until every one is over, then what became of them.
 *   <li>{@code load [rate] [seconds]} (100 orders a second for 30 s): places orders at the rate, then waits for
 *       every checkout to end; prints the rate reached and the place-order latency.
 * </ul>
 *
 * <p>The database is {@code keel-data/checkout.db} (or {@code KEEL_CHECKOUT_DB}); runs add to it.
 */
public final class CheckoutApp {
    private CheckoutApp() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "run";
        Path db = Path.of(System.getenv().getOrDefault("KEEL_CHECKOUT_DB", "keel-data/checkout.db"));
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        JdbcJournal journal = JdbcJournal.sqlite(db);
        try (Keel keel =
                Keel.builder().lanes(8).journal(journal).meterRegistry(meters).build()) {
            Checkout checkout = Checkout.on(keel, journal.eventStore(), Duration.ofSeconds(2), meters);
            keel.start();
            try {
                switch (mode) {
                    case "run" -> run(checkout, args.length > 1 ? Integer.parseInt(args[1]) : 200);
                    case "load" ->
                        load(
                                checkout,
                                args.length > 1 ? Integer.parseInt(args[1]) : 100,
                                args.length > 2 ? Integer.parseInt(args[2]) : 30);
                    default -> {
                        System.err.println("usage: checkout run [orders] | checkout load [rate] [seconds]");
                        System.exit(2);
                    }
                }
            } finally {
                checkout.sourcing().close();
            }
        }
    }

    /** Stock for {@code orders} orders of which a fifth ask for the scarce product. */
    static void restock(Checkout checkout, int orders) throws Exception {
        checkout.sourcing()
                .send("common", new Inventory.Restock("common", orders * 2))
                .get(30, TimeUnit.SECONDS);
        checkout.sourcing()
                .send("scarce", new Inventory.Restock("scarce", Math.max(1, orders / 20)))
                .get(30, TimeUnit.SECONDS);
    }

    /** The order of number {@code i} of a run: its card and product make its path. */
    static Order.Place order(String run, int i) {
        String card = i % 10 == 3 ? "declined" : i % 10 == 7 ? "silent" : "visa";
        String sku = i % 5 == 0 ? "scarce" : "common";
        return new Order.Place(run + "-" + i, "customer-" + (i % 50), sku, 1 + i % 2, 1_000 + i % 7 * 250, card);
    }

    private static void run(Checkout checkout, int orders) throws Exception {
        String run = UUID.randomUUID().toString().substring(0, 8);
        System.out.printf("checkout run %s: %,d orders%n", run, orders);
        restock(checkout, orders);
        long start = System.nanoTime();
        List<CompletableFuture<?>> placed = new ArrayList<>();
        for (int i = 0; i < orders; i++) {
            Order.Place p = order(run, i);
            placed.add(checkout.sourcing().send(p.orderId(), p));
        }
        for (CompletableFuture<?> f : placed) {
            f.get(60, TimeUnit.SECONDS);
        }
        waitUntilOver(checkout, run, orders);
        System.out.printf("all %,d checkouts over in %d ms%n", orders, (System.nanoTime() - start) / 1_000_000);
        Map<String, Integer> reasons = new java.util.TreeMap<>();
        for (int i = 0; i < orders; i++) {
            CheckoutSaga.State s = checkout.step(run + "-" + i);
            String how = s instanceof CheckoutSaga.Cancelled c ? "cancelled: " + c.reason() : "completed";
            reasons.merge(how, 1, Integer::sum);
        }
        reasons.forEach((how, n) -> System.out.printf("  %-40s %,d%n", how, n));
    }

    private static void waitUntilOver(Checkout checkout, String run, int orders) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (true) {
            int open = 0;
            for (int i = 0; i < orders; i++) {
                CheckoutSaga.State s = checkout.step(run + "-" + i);
                if (!(s instanceof CheckoutSaga.Completed) && !(s instanceof CheckoutSaga.Cancelled)) {
                    open++;
                }
            }
            System.out.printf("  steps %s%n", checkout.steps());
            if (open == 0) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(open + " checkouts are still open after 5 minutes");
            }
            Thread.sleep(1_000);
        }
    }

    private static void load(Checkout checkout, int rate, int seconds) throws Exception {
        String run = UUID.randomUUID().toString().substring(0, 8);
        int orders = rate * seconds;
        System.out.printf("checkout load %s: %,d orders a second for %d s%n", run, rate, seconds);
        restock(checkout, orders);
        long[] latencies = new long[orders];
        List<CompletableFuture<?>> placed = new ArrayList<>(orders);
        long start = System.nanoTime();
        long interval = 1_000_000_000L / rate;
        for (int i = 0; i < orders; i++) {
            long due = start + i * interval;
            long wait = due - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            Order.Place p = order(run, i);
            int at = i;
            placed.add(checkout.sourcing().send(p.orderId(), p).whenComplete((c, e) -> {
                latencies[at] = System.nanoTime() - due;
            }));
        }
        for (CompletableFuture<?> f : placed) {
            f.get(60, TimeUnit.SECONDS);
        }
        long sentFor = System.nanoTime() - start;
        waitUntilOver(checkout, run, orders);
        long overAfter = System.nanoTime() - start;
        java.util.Arrays.sort(latencies);
        System.out.printf(
                "placed %,d orders in %.1f s (%,.0f/s); place latency p50 %.2f ms, p95 %.2f ms, p99 %.2f ms;"
                        + " every checkout over after %.1f s%n",
                orders,
                sentFor / 1e9,
                orders / (sentFor / 1e9),
                latencies[orders / 2] / 1e6,
                latencies[(int) (orders * 0.95)] / 1e6,
                latencies[(int) (orders * 0.99)] / 1e6,
                overAfter / 1e9);
    }
}
