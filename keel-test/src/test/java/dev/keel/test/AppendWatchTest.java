package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.LogAccess;
import dev.keel.Receipt;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** {@link LogAccess#watchAppends}: a reader of the log hears of each stored append at once. */
class AppendWatchTest {
    @Test
    void shouldTellTheLaneOfEachStoredAppendUntilClosed() {
        try (Keel keel = Keel.builder().lanes(4).build().start()) {
            List<Integer> told = new CopyOnWriteArrayList<>();
            Map<Integer, Long> headWhenTold = new ConcurrentHashMap<>();
            LogAccess.Watch watch = keel.logAccess().watchAppends(lane -> {
                told.add(lane);
                headWhenTold.merge(lane, keel.logAccess().head(lane), Math::max);
            });
            List<Receipt> receipts = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                receipts.add(keel.emit("order.created", "k" + i, i).join());
            }
            Event<String> once = Event.builder("payment.received", "x")
                    .id("evt-1")
                    .source("/bank")
                    .build();
            receipts.add(keel.emit(once).join());
            assertThat(keel.emit(once).join().duplicate()).isTrue(); // stores nothing, so tells nothing

            assertThat(told)
                    .containsExactlyInAnyOrderElementsOf(
                            receipts.stream().map(Receipt::lane).toList());
            for (Receipt r : receipts) {
                // Told once stored: a reader woken by the watch finds the event in the journal.
                assertThat(headWhenTold.get(r.lane())).isGreaterThanOrEqualTo(r.sequence());
            }

            watch.close();
            keel.emit("order.created", "k", 99).join();
            assertThat(told).hasSize(receipts.size());
        }
    }

    @Test
    void shouldStoreTheEventWhenAWatchFails() {
        try (Keel keel = Keel.builder().lanes(2).build().start()) {
            keel.logAccess().watchAppends(lane -> {
                throw new IllegalStateException("a broken reader");
            });
            List<Integer> told = new CopyOnWriteArrayList<>();
            keel.logAccess().watchAppends(told::add); // watches after the broken one still hear of it

            Receipt r = keel.emit("order.created", "k", 1).join();

            assertThat(r.duplicate()).isFalse();
            assertThat(keel.logAccess().read(r.lane(), 0, 10)).hasSize(1);
            assertThat(told).containsExactly(r.lane());
        }
    }
}
