package dev.keel.test;

import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.LogAccess;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** {@link LogAccess#holdPruning}: a reader of the log keeps what it has not read from being pruned. */
class PruningHoldTest {
    @Test
    void shouldNotPrunePastWhatTheReaderHasRead() {
        try (Keel keel = Keel.builder().lanes(1).build().start()) {
            AtomicLong readTo = new AtomicLong(3);
            LogAccess.Hold hold = keel.logAccess().holdPruning(lane -> readTo.get());
            for (int i = 0; i < 10; i++) {
                keel.emit("order.created", "k", i).join();
            }
            // No subscription holds the log: without the hold everything would go at the next pass.
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> keel.logAccess().read(0, 0, 100).getFirst().sequence() == 4);
            await().during(Duration.ofMillis(200))
                    .atMost(Duration.ofSeconds(2))
                    .until(() -> keel.logAccess().read(0, 0, 100).size() == 7);
            readTo.set(8);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> keel.logAccess().read(0, 0, 100).size() == 2);
            hold.close();
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> keel.logAccess().read(0, 0, 100).isEmpty());
        }
    }
}
