package dev.keel.jdbc;

import static org.awaitility.Awaitility.await;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;

/**
 * The process {@link CrashRecoveryTest} kills. It emits events {@code 0..total-1} (ids fixed, so a re-emit
 * after a crash is a duplicate the journal absorbs), logs each acknowledged emit to the acks file and each
 * delivery to the delivered file (plain writes: they survive the process being killed). Every 997th event
 * fails permanently and is dead-lettered. With {@code finish} it waits for everything to be delivered,
 * prints the dead-letter count and exits; otherwise it runs until killed.
 */
public final class CrashChild {
    static final int KEYS = 64;
    static final int LANES = 8;

    private CrashChild() {}

    static boolean poisoned(int i) {
        return i % 997 == 0;
    }

    public static void main(String[] args) throws Exception {
        Path db = Path.of(args[0]);
        Path acks = Path.of(args[1]);
        Path delivered = Path.of(args[2]);
        int total = Integer.parseInt(args[3]);
        boolean finish = args[4].equals("finish");
        int start = Math.max(0, highestAck(acks) + 1 - 4096);
        try (AppendLog ackLog = new AppendLog(acks);
                AppendLog deliveryLog = new AppendLog(delivered);
                Keel keel = Keel.builder()
                        .lanes(LANES)
                        .journal(JdbcJournal.sqlite(db))
                        .build()) {
            keel.subscribe(Subscription.builder("crash")
                    .types("crash.tick")
                    .retry(RetryPolicy.builder()
                            .maxAttempts(2)
                            .initialDelay(Duration.ofMillis(10))
                            .build())
                    .handler(Integer.class, d -> {
                        if (poisoned(d.data())) {
                            throw new PermanentFailureException("poisoned " + d.data());
                        }
                        deliveryLog.line(d.data() + " " + d.event().partitionKey());
                    })
                    .build());
            keel.start();
            Semaphore window = new Semaphore(2000);
            for (int i = start; i < total; i++) {
                window.acquire();
                int index = i;
                keel.emit(Event.builder("crash.tick", i)
                                .id("evt-" + i)
                                .source("/crash")
                                .key("k" + (i % KEYS))
                                .build())
                        .whenComplete((receipt, error) -> {
                            if (error == null) {
                                ackLog.line(Integer.toString(index));
                            }
                            window.release();
                        });
            }
            window.acquire(2000);
            if (!finish) {
                new CountDownLatch(1).await(); // until the test kills this process
            }
            await("the crash subscription drains")
                    .atMost(Duration.ofMinutes(3))
                    .pollInterval(Duration.ofMillis(20))
                    .until(
                            () -> keel.stats().subscription("crash"),
                            s -> s.lag() == 0 && s.pendingDue() == 0 && s.parked() == 0);
            System.out.println("deadletters=" + keel.deadLetters().count("crash"));
        }
        System.exit(0);
    }

    private static int highestAck(Path acks) throws IOException {
        if (!Files.exists(acks)) {
            return -1;
        }
        int max = -1;
        for (String line : Files.readAllLines(acks)) {
            if (!line.isBlank()) {
                try {
                    max = Math.max(max, Integer.parseInt(line.trim()));
                } catch (NumberFormatException torn) {
                    // the last line of a killed process may be cut short
                }
            }
        }
        return max;
    }
}
