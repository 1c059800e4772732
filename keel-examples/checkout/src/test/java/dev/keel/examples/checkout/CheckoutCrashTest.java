package dev.keel.examples.checkout;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.jdbc.JdbcJournal;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A process running 1,000 checkouts is killed with SIGKILL at random points, three times, and started again;
 * then every checkout must end completed or cancelled, and no payment be charged twice or refunded twice.
 */
class CheckoutCrashTest {
    private static final int ORDERS = 1_000;
    private static final int KILLS = 3;

    @TempDir
    Path dir;

    @Test
    void everyCheckoutEndsAndNoPaymentIsChargedOrRefundedTwice() throws Exception {
        Path db = dir.resolve("checkout.db");
        Path marker = dir.resolve("marker");
        Random random = new Random(42);
        for (int kill = 0; kill < KILLS; kill++) {
            Process child = child(db, marker);
            Thread.sleep(1_500 + random.nextInt(2_500));
            child.destroyForcibly(); // SIGKILL: no shutdown hook, no close
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
        Process last = child(db, marker);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            while (!"over".equals(read(marker))) {
                assertThat(last.isAlive())
                        .as("the last child is running; see child.out")
                        .isTrue();
                assertThat(System.nanoTime())
                        .as("checkouts still open: " + read(marker))
                        .isLessThan(deadline);
                Thread.sleep(250);
            }
        } finally {
            last.destroyForcibly();
            last.waitFor(30, TimeUnit.SECONDS);
        }

        JdbcJournal journal = JdbcJournal.sqlite(db);
        try (Keel keel = Keel.builder().lanes(4).journal(journal).build()) {
            EventStore store = journal.eventStore();
            int completed = 0;
            for (int i = 0; i < ORDERS; i++) {
                String id = "crash-" + i;
                List<String> payment = store.load("payment:" + id, 0, 100).stream()
                        .map(RecordedEvent::type)
                        .toList();
                assertThat(payment.stream().filter("payment.charged"::equals).count())
                        .as("charges of " + id)
                        .isLessThanOrEqualTo(1);
                assertThat(payment.stream().filter("payment.refunded"::equals).count())
                        .as("refunds of " + id)
                        .isLessThanOrEqualTo(1);
                List<String> order = store.load("order:" + id, 0, 100).stream()
                        .map(RecordedEvent::type)
                        .toList();
                List<String> saga = store.load("checkout:" + id, 0, 100).stream()
                        .map(RecordedEvent::type)
                        .toList();
                // Over: finished (a charge that came after a timeout cancelled the order is refunded after that).
                assertThat(saga).as("steps of " + id).contains("checkout.finished");
                if (order.contains("order.completed")) {
                    completed++;
                    assertThat(payment).as(id).containsExactly("payment.charged");
                } else {
                    assertThat(order).as(id).containsExactly("order.placed", "order.cancelled");
                    // A cancelled order keeps no money: charged means refunded.
                    assertThat(payment.contains("payment.charged")).isEqualTo(payment.contains("payment.refunded"));
                }
            }
            // Most complete; the rest were declined, short, silent, or timed out while the process was down.
            assertThat(completed).isGreaterThan(ORDERS / 4);
            // Stock: reserved at most once per order, released at most once, and never kept by a cancelled one.
            for (String sku : List.of("common", "scarce")) {
                java.util.Map<String, Integer> reserved = new java.util.HashMap<>();
                java.util.Map<String, Integer> released = new java.util.HashMap<>();
                for (RecordedEvent e : store.load("inventory:" + sku, 0, 100_000)) {
                    String order = new String(e.data(), java.nio.charset.StandardCharsets.UTF_8)
                            .replaceAll(".*\"orderId\":\"([^\"]+)\".*", "$1");
                    if (e.type().equals("inventory.reserved")) {
                        reserved.merge(order, 1, Integer::sum);
                    } else if (e.type().equals("inventory.released")) {
                        released.merge(order, 1, Integer::sum);
                    }
                }
                assertThat(reserved.values()).allMatch(n -> n == 1);
                assertThat(released.values()).allMatch(n -> n == 1);
                for (String order : reserved.keySet()) {
                    boolean cancelled = store.load("order:" + order, 0, 10).stream()
                            .anyMatch(e -> e.type().equals("order.cancelled"));
                    assertThat(released.containsKey(order))
                            .as("stock of " + order)
                            .isEqualTo(cancelled);
                }
            }
        }
    }

    private static String read(Path marker) throws IOException {
        return Files.exists(marker) ? Files.readString(marker) : "";
    }

    private Process child(Path db, Path marker) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(List.of(
                        java,
                        "--enable-native-access=ALL-UNNAMED",
                        "-Xmx512m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        CheckoutCrashChild.class.getName(),
                        db.toString(),
                        Integer.toString(ORDERS),
                        marker.toString()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        dir.resolve("child.out").toFile()))
                .start();
    }
}
