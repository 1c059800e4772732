package dev.keel.jdbc;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

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
                        // Four JVMs and PostgreSQL share the test machine's cores: a heartbeat held back longer
                        // than the lease legitimately moves lanes away and back, which the test would take for a
                        // stale owner delivering. Three seconds keeps such stalls out of the run.
                        .leaseDuration(Duration.ofSeconds(3))
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
            // About 2,500 emits a second: the load lasts a few seconds, so the test's kill lands in the middle.
            RateLimiter pace = RateLimiter.of(
                    "load",
                    RateLimiterConfig.custom()
                            .limitForPeriod(50)
                            .limitRefreshPeriod(Duration.ofMillis(20))
                            .timeoutDuration(Duration.ofSeconds(10))
                            .build());
            for (int i = from; i < to; i++) {
                RateLimiter.waitForPermission(pace);
                keel.emit(Event.builder("order.placed", i)
                                .id("evt-" + i)
                                .source("/multi")
                                .key("k" + (i % 40))
                                .build())
                        .join();
                ackLog.line(Integer.toString(i));
            }
            new CountDownLatch(1).await(); // until the test kills this process
        }
    }
}
