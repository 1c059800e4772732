package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Receipt;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Keel#watchAppends} on a durable journal: told once the append is stored, singly and in batches. */
class SqliteAppendWatchTest {
    @TempDir
    Path dir;

    @Test
    void shouldTellOfEachAppendOnceTheJournalHasIt() {
        try (Keel keel = Keel.builder()
                .lanes(4)
                .retention(java.time.Duration.ofHours(1)) // no subscription holds the log: keep what is read below
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build()
                .start()) {
            List<Integer> told = new CopyOnWriteArrayList<>();
            Map<Integer, Long> headWhenTold = new ConcurrentHashMap<>();
            keel.logAccess().watchAppends(lane -> {
                told.add(lane);
                headWhenTold.merge(lane, keel.logAccess().head(lane), Math::max);
            });

            Receipt single = keel.emit("order.created", "k", 1).join();
            List<Receipt> batch = keel.emitBatch(IntStream.range(0, 50)
                            .mapToObj(i ->
                                    Event.builder("order.paid", i).key("k" + i).build())
                            .toList())
                    .join();

            assertThat(batch).hasSize(50);
            assertThat(told).hasSize(51);
            long stored = 0;
            for (int lane = 0; lane < 4; lane++) {
                long head = keel.logAccess().head(lane);
                stored += keel.logAccess().read(lane, 0, 100).size();
                if (told.contains(lane)) {
                    assertThat(headWhenTold.get(lane)).isEqualTo(head);
                }
            }
            assertThat(stored).isEqualTo(51);
            assertThat(headWhenTold.get(single.lane())).isGreaterThanOrEqualTo(single.sequence());
        }
    }
}
