package dev.keel.cli;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.KeelStats;
import dev.keel.PermanentFailureException;
import dev.keel.RetryPolicy;
import dev.keel.ShutdownReport;
import dev.keel.Subscription;
import dev.keel.SubscriptionStats;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Runs a small checkout through the runtime: a payment handler that fails some orders shows retries with
 * backoff, a dead letter, and its reprocessing once the cause is fixed; then prints the stats.
 */
@Command(
        name = "demo",
        description =
                "Emit orders through Keel with a flaky payment handler: retries, a dead letter, a reprocess, stats.")
final class DemoCommand implements Callable<Integer> {
    /** An order, as the demo's events carry it. */
    record Order(String id, String customer, int cents) {}

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(
            names = "--orders",
            defaultValue = "12",
            description = "How many orders to emit (default: ${DEFAULT-VALUE}).")
    int orders;

    @Option(names = "--lanes", defaultValue = "4", description = "Lanes of the runtime (default: ${DEFAULT-VALUE}).")
    int lanes;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (orders < 6 || orders > 100_000) {
            throw new picocli.CommandLine.ParameterException(
                    spec.commandLine(), "--orders must be between 6 and 100000 but was " + orders);
        }
        Map<String, Integer> gatewayFailures = new ConcurrentHashMap<>(Map.of("order-0003", 2));
        AtomicBoolean cardCheckFixed = new AtomicBoolean(false);
        RetryPolicy quick = RetryPolicy.builder()
                .maxAttempts(4)
                .initialDelay(Duration.ofMillis(200))
                .multiplier(2)
                .maxDelay(Duration.ofSeconds(2))
                .jitter(0.1)
                .abortOn(IllegalArgumentException.class)
                .build();

        out.println("Keel demo: " + orders + " orders on " + lanes + " lanes, in memory.");
        out.println();
        try (Keel keel = Keel.builder().lanes(lanes).build()) {
            keel.subscribe(Subscription.builder("payments")
                    .types("order.placed")
                    .retry(quick)
                    .handler(Order.class, d -> {
                        Order o = d.data();
                        Integer left = gatewayFailures.computeIfPresent(o.id(), (k, v) -> v - 1);
                        if (left != null && left >= 0) {
                            say(
                                    out,
                                    "payments  %s attempt %d: gateway timed out, retrying with backoff",
                                    o.id(),
                                    d.attempt());
                            throw new IOException("payment gateway timed out");
                        }
                        if (o.cents() <= 0 && !cardCheckFixed.get()) {
                            say(
                                    out,
                                    "payments  %s attempt %d: amount %d is not payable, dead-lettering",
                                    o.id(),
                                    d.attempt(),
                                    o.cents());
                            throw new PermanentFailureException("amount " + o.cents() + " is not payable");
                        }
                        if (d.attempt() > 1 || d.replayCount() > 0) {
                            say(
                                    out,
                                    "payments  %s attempt %d%s: paid",
                                    o.id(),
                                    d.attempt(),
                                    d.replayCount() > 0 ? " (replay " + d.replayCount() + ")" : "");
                        }
                        keel.emit("order.paid", o.id(), o);
                    })
                    .build());
            keel.subscribe(Subscription.builder("shipping")
                    .types("order.paid")
                    .handler(Order.class, d -> {})
                    .build());
            keel.start();

            for (int i = 1; i <= orders; i++) {
                String id = "order-%04d".formatted(i);
                int cents = i == 5 ? 0 : 1_000 + i * 250;
                keel.emit("order.placed", id, new Order(id, "customer-" + (i % 3), cents))
                        .join();
            }
            say(out, "emitted   %d order.placed events", orders);

            await(() -> keel.stats().subscription("shipping").delivered() == orders - 1
                    && keel.deadLetters().count("payments") == 1
                    && keel.stats().subscription("payments").pendingDue() == 0);

            List<DeadLetter> dead =
                    keel.deadLetters().list(DeadLetterQuery.all().withSubscription("payments"));
            out.println();
            for (DeadLetter d : dead) {
                say(
                        out,
                        "dead letter %s: event %s (%s), %s",
                        shortId(d.id()),
                        d.event().partitionKey(),
                        d.event().type(),
                        d.reason());
            }
            out.println();
            say(out, "fixing the amount check and reprocessing the dead letter");
            cardCheckFixed.set(true);
            for (DeadLetter d : dead) {
                keel.deadLetters().reprocess(d.id());
            }
            await(() -> keel.stats().subscription("shipping").delivered() == orders
                    && keel.deadLetters().count("payments") == 0);

            out.println();
            printStats(out, keel.stats());
            ShutdownReport report = keel.close(Duration.ofSeconds(5));
            out.println();
            say(
                    out,
                    "closed: drained=%s, undelivered=%d, took %d ms",
                    report.drained(),
                    report.undelivered(),
                    report.took().toMillis());
            return 0;
        }
    }

    private static void printStats(PrintWriter out, KeelStats stats) {
        out.printf(
                "%-12s %9s %9s %8s %12s %6s%n",
                "subscription", "delivered", "failed", "retries", "dead-letters", "lag");
        for (SubscriptionStats s : stats.subscriptions()) {
            out.printf(
                    "%-12s %9d %9d %8d %12d %6d%n",
                    s.name(), s.delivered(), s.failedAttempts(), s.retriesScheduled(), s.deadLettered(), s.lag());
        }
        out.printf("events emitted: %d%n", stats.emitted());
        out.flush();
    }

    private static void say(PrintWriter out, String format, Object... args) {
        synchronized (out) {
            out.printf(format + "%n", args);
            out.flush();
        }
    }

    private static String shortId(String id) {
        return id.substring(id.length() - 8);
    }

    private static void await(BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("the demo did not settle within 30 s; this is a bug, please report it");
            }
            Thread.sleep(20);
        }
    }
}
