package dev.keel.jdbc;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import java.nio.file.Path;
import java.time.Duration;

/**
 * One of the instances {@link MultiInstanceTest} runs on a shared PostgreSQL. It emits events
 * {@code from..to-1}, logs each acknowledged emit to its acks file and each delivery, with its name and
 * lane, to the shared deliveries file (small appends to one file are atomic), and runs until killed.
 */
public final class LeaseChild {
    private LeaseChild() {}

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String name = args[1];
        int from = Integer.parseInt(args[2]);
        int to = Integer.parseInt(args[3]);
        Path acks = Path.of(args[4]);
        Path deliveries = Path.of(args[5]);
        try (AppendLog ackLog = new AppendLog(acks);
                AppendLog deliveryLog = new AppendLog(deliveries);
                Keel keel = Keel.builder()
                        .lanes(8)
                        .leaseDuration(Duration.ofMillis(1500))
                        .journal(JdbcJournal.postgres(url, "postgres", null))
                        .build()) {
            keel.subscribe(Subscription.builder("orders")
                    .types("order.*")
                    .handler(
                            Integer.class,
                            d -> deliveryLog.line(name + " " + d.lane() + " "
                                    + d.event().partitionKey() + " " + d.data() + " " + d.sequence()))
                    .build());
            keel.start();
            for (int i = from; i < to; i++) {
                keel.emit(Event.builder("order.placed", i)
                                .id("evt-" + i)
                                .source("/multi")
                                .key("k" + (i % 40))
                                .build())
                        .join();
                ackLog.line(Integer.toString(i));
                if (i % 50 == 0) {
                    Thread.sleep(20); // spread the load over a few seconds
                }
            }
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
