package dev.keel.examples.checkout;

import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The process {@link CheckoutCrashTest} kills: stocks the products and places {@code orders} orders (once each,
 * by command ids, however often it is started), then runs their checkouts; writes {@code over} into the marker
 * file once every checkout has ended.
 */
public final class CheckoutCrashChild {
    private CheckoutCrashChild() {}

    public static void main(String[] args) throws Exception {
        Path db = Path.of(args[0]);
        int orders = Integer.parseInt(args[1]);
        Path marker = Path.of(args[2]);
        JdbcJournal journal = JdbcJournal.sqlite(db);
        Keel keel = Keel.builder().lanes(4).journal(journal).build();
        Checkout checkout = Checkout.on(keel, journal.eventStore(), Duration.ofSeconds(5), new SimpleMeterRegistry());
        keel.start();
        var es = checkout.sourcing();
        es.sendOnce("restock-common", "common", new Inventory.Restock("common", orders * 2))
                .get(30, TimeUnit.SECONDS);
        es.sendOnce("restock-scarce", "scarce", new Inventory.Restock("scarce", orders / 20))
                .get(30, TimeUnit.SECONDS);
        List<CompletableFuture<?>> placed = new ArrayList<>();
        for (int i = 0; i < orders; i++) {
            Order.Place p = CheckoutApp.order("crash", i);
            placed.add(es.sendOnce("place-" + p.orderId(), p.orderId(), p));
        }
        for (CompletableFuture<?> f : placed) {
            f.get(120, TimeUnit.SECONDS);
        }
        while (true) {
            int open = 0;
            for (int i = 0; i < orders; i++) {
                CheckoutSaga.State s = checkout.step("crash-" + i);
                if (!(s instanceof CheckoutSaga.Completed) && !(s instanceof CheckoutSaga.Cancelled)) {
                    open++;
                }
            }
            Files.writeString(marker, open == 0 ? "over" : "open " + open);
            Thread.sleep(250);
        }
    }
}
