package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.PayloadTooLargeException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Event types declared at-most-once are delivered from memory and never written to the journal. */
class AtMostOnceTest {
    @TempDir
    Path dir;

    private int journaledEvents(Path file) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT COUNT(*) FROM keel_log")) {
            r.next();
            return r.getInt(1);
        }
    }

    @Test
    void shouldDeliverTelemetryFromMemoryAndKeepEverythingElseDurable() throws Exception {
        Path file = dir.resolve("keel.db");
        List<String> seen = new ArrayList<>();
        List<Event<?>> followUps = new ArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .atMostOnce("telemetry.**")
                .retention(java.time.Duration.ofHours(1)) // keep delivered events, to count what was written
                .journal(JdbcJournal.sqlite(file))
                .build()) {
            keel.on("**", Object.class, d -> seen.add(d.event().type()));
            keel.on("telemetry.cpu", Object.class, d -> keel.emit("alert.raised", "host-1", "cpu high"));
            keel.on("alert.raised", Object.class, d -> followUps.add(d.event()));
            for (int i = 0; i < 50; i++) {
                keel.emit("telemetry.cpu", "host-1", i).join();
            }
            keel.emitBatch(List.of(
                            Event.builder("order.created", 1).key("o-1").build(),
                            Event.builder("telemetry.memory", 2).key("host-1").build()))
                    .join();
            keel.process();
            assertThat(seen).filteredOn("telemetry.cpu"::equals).hasSize(50);
            assertThat(seen).contains("order.created", "telemetry.memory", "alert.raised");
            assertThat(followUps).hasSize(50).allSatisfy(e -> assertThat(e.depth())
                    .isEqualTo(1));
            assertThat(keel.stats().emitted()).isEqualTo(102);
        }
        // Only the durable events were written: the order and the 50 alerts, and the telemetry event that came
        // in one batch with the order (a batch is stored as one unit).
        assertThat(journaledEvents(file)).isEqualTo(52);
    }

    @Test
    void shouldStoreNothingOfABatchWhoseAtMostOnceEventIsInvalid() throws Exception {
        Path file = dir.resolve("keel.db");
        List<String> seen = new ArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .atMostOnce("telemetry.**")
                .maxPayloadBytes(64)
                .retention(java.time.Duration.ofHours(1))
                .journal(JdbcJournal.sqlite(file))
                .build()) {
            keel.on("**", Object.class, d -> seen.add(d.event().type()));
            List<Event<?>> batch = List.of(
                    Event.builder("order.created", 1).key("o-1").build(),
                    Event.builder("telemetry.dump", "x".repeat(500)).key("o-1").build());
            assertThatThrownBy(() -> keel.emitBatch(batch)).isInstanceOf(PayloadTooLargeException.class);
            keel.process();
            assertThat(seen).isEmpty();
            assertThat(keel.stats().emitted()).isZero();
        }
        assertThat(journaledEvents(file)).isZero();
    }

    @Test
    void shouldKeepABatchOfAtMostOnceTypesInMemory() throws Exception {
        Path file = dir.resolve("keel.db");
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .atMostOnce("telemetry.**")
                .retention(java.time.Duration.ofHours(1))
                .journal(JdbcJournal.sqlite(file))
                .build()) {
            keel.on("**", Object.class, d -> seen.add(d.event().type()));
            keel.emitBatch(List.of(
                            Event.builder("telemetry.cpu", 1).key("h").build(),
                            Event.builder("telemetry.memory", 2).key("h").build()))
                    .join();
            keel.process();
        }
        assertThat(seen).containsExactly("telemetry.cpu", "telemetry.memory");
        assertThat(journaledEvents(file)).isZero();
    }

    @Test
    void shouldKeepSameKeyOrderInABatchMixingAtMostOnceAndDurableTypes() throws Exception {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .atMostOnce("telemetry.**")
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build()) {
            keel.on("**", Object.class, d -> seen.add(d.event().type()));
            for (int round = 0; round < 20; round++) {
                keel.emitBatch(List.of(
                                Event.builder("telemetry.before", round)
                                        .key("k")
                                        .build(),
                                Event.builder("order.placed", round).key("k").build(),
                                Event.builder("telemetry.after", round).key("k").build()))
                        .join();
            }
            keel.process();
        }
        List<String> expected = new ArrayList<>();
        for (int round = 0; round < 20; round++) {
            expected.addAll(List.of("telemetry.before", "order.placed", "telemetry.after"));
        }
        assertThat(seen).containsExactlyElementsOf(expected);
    }
}
