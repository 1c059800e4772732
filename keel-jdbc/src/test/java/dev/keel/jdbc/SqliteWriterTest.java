package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.Event;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SQLite's one writer: appends and delivery outcomes share transactions; the log's layout and its migration. */
class SqliteWriterTest {
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir
    Path dir;

    @Test
    void shouldFailOnlyTheFaultyRequestOfASharedTransaction() throws Exception {
        Path file = dir.resolve("keel.db");
        JdbcJournal journal = JdbcJournal.sqlite(file);
        journal.open(2);
        try {
            Event<Object> first = event("order.created", 1);
            journal.commit(deadLetterCommit("dl-1", first));
            CompletableFuture<List<AppendResult>> before;
            CompletableFuture<Void> faulty;
            CompletableFuture<List<AppendResult>> after;
            // Hold SQLite's write lock from another connection so the writer's requests pile up behind it.
            try (Connection blocker = DriverManager.getConnection("jdbc:sqlite:" + file);
                    Statement s = blocker.createStatement()) {
                s.execute("BEGIN IMMEDIATE");
                before = journal.append(List.of(new Append(0, event("order.created", 2), null, null)));
                await().atMost(Duration.ofSeconds(10)).until(() -> journal.writerBacklog() == 0); // taken: waits
                faulty = CompletableFuture.runAsync(() -> journal.commit(deadLetterCommit("dl-1", first)));
                after = journal.append(List.of(new Append(1, event("order.created", 3), null, null)));
                await().atMost(Duration.ofSeconds(10)).until(() -> journal.writerBacklog() == 2); // the next group
                s.execute("COMMIT");
            }
            assertThat(before.get(30, TimeUnit.SECONDS))
                    .singleElement()
                    .extracting(AppendResult::sequence)
                    .isEqualTo(1L);
            assertThat(after.get(30, TimeUnit.SECONDS))
                    .singleElement()
                    .extracting(AppendResult::sequence)
                    .isEqualTo(1L);
            assertThatThrownBy(() -> faulty.get(30, TimeUnit.SECONDS))
                    .hasCauseInstanceOf(JournalException.class)
                    .hasMessageContaining("dead")
                    .hasMessageContaining("lane 0");
            assertThat(journal.read(1, 0, 10))
                    .extracting(r -> (Object) r.event().data())
                    .containsExactly(3);
            assertThat(journal.countDeadLetters("billing")).isEqualTo(1);
            // The faulty outcome and the later append did share a transaction, which was then split.
            assertThat(journal.requestsRetriedAlone()).isGreaterThanOrEqualTo(2);
        } finally {
            journal.close();
        }
    }

    @Test
    void shouldCarryTheLogOverFromTheLayoutBeforeTheClusteredKey() throws Exception {
        Path file = dir.resolve("old.db");
        String url = "jdbc:sqlite:" + file;
        Flyway.configure()
                .dataSource(url, null, null)
                .locations("classpath:db/keel")
                .table("keel_schema_history")
                .placeholders(Map.of("blob", "BLOB", "position", "INTEGER", "lock_old_log", ""))
                .target("4")
                .load()
                .migrate();
        EnvelopeCodec codec = new EnvelopeCodec(JdbcJournal.defaultMapper());
        try (Connection c = DriverManager.getConnection(url);
                PreparedStatement insert = c.prepareStatement("INSERT INTO keel_events"
                        + " (lane, seq, event_id, type, appended_at, envelope) VALUES (?, ?, ?, ?, ?, ?)");
                Statement s = c.createStatement()) {
            s.execute("INSERT INTO keel_meta (name, value) VALUES ('lanes', '1024')");
            s.execute("INSERT INTO keel_lanes (lane, head) VALUES (0, 2), (1023, 1)");
            for (Object[] row : new Object[][] {{0, 1L, 10}, {0, 2L, 20}, {1023, 1L, 30}}) {
                Event<Object> e = event("order.created", row[2]);
                insert.setInt(1, (Integer) row[0]);
                insert.setLong(2, (Long) row[1]);
                insert.setString(3, e.id());
                insert.setString(4, e.type());
                insert.setLong(5, T0.toEpochMilli());
                insert.setBytes(6, codec.write(e));
                insert.executeUpdate();
            }
        }
        JdbcJournal journal = JdbcJournal.sqlite(file);
        journal.open(1024);
        try {
            assertThat(journal.read(0, 0, 10))
                    .extracting(r -> (Object) r.event().data())
                    .containsExactly(10, 20);
            assertThat(journal.read(0, 1, 10)).extracting(LogRecord::sequence).containsExactly(2L);
            // The last lane's positions sit at the top of the 64-bit range.
            assertThat(journal.read(1023, 0, 10))
                    .extracting(r -> (Object) r.event().data())
                    .containsExactly(30);
            assertThat(journal.read(1022, 0, 10)).isEmpty();
            assertThat(journal.append(List.of(new Append(1023, event("order.created", 40), null, null)))
                            .join())
                    .singleElement()
                    .extracting(AppendResult::sequence)
                    .isEqualTo(2L);
            assertThat(journal.read(1023, 0, 10))
                    .extracting(r -> (Object) r.event().data())
                    .containsExactly(30, 40);
            journal.prune(0, 1, T0.plusSeconds(1), T0.plusSeconds(1));
            assertThat(journal.read(0, 0, 10))
                    .extracting(r -> (Object) r.event().data())
                    .containsExactly(20);
            assertThat(journal.read(1023, 0, 10)).hasSize(2);
        } finally {
            journal.close();
        }
    }

    @Test
    void shouldPruneALongStretchSliceBySliceAndStopAtTheRetention() {
        JdbcJournal journal = JdbcJournal.sqlite(dir.resolve("prune.db"));
        journal.open(1);
        try {
            List<Append> appends = new java.util.ArrayList<>();
            for (int i = 1; i <= 1_300; i++) {
                appends.add(new Append(0, event("order.created", i), null, null));
            }
            journal.append(appends).join();
            Instant later = Instant.now().plusSeconds(60);
            journal.prune(0, 1_100, later, later); // three slices of 512, the last one partial
            assertThat(journal.read(0, 0, 1)).extracting(LogRecord::sequence).containsExactly(1_101L);
            journal.prune(0, 1_300, Instant.now().minusSeconds(60), later); // all too young: nothing goes
            assertThat(journal.read(0, 0, 1)).extracting(LogRecord::sequence).containsExactly(1_101L);
            journal.prune(0, 1_300, later, later);
            assertThat(journal.read(0, 0, 1)).isEmpty();
        } finally {
            journal.close();
        }
    }

    private static Event<Object> event(String type, Object data) {
        return Event.builder(type, data).key("k").time(T0).build();
    }

    private static Commit deadLetterCommit(String id, Event<?> e) {
        DeadLetter d = new DeadLetter(
                id,
                "billing",
                0,
                1,
                e,
                List.of(new AttemptError(1, T0, "java.io.IOException", "boom")),
                "gave up",
                T0,
                0,
                false);
        return new Commit("billing", 0, Commit.UNCHANGED, List.of(), List.of(), List.of(d), List.of());
    }
}
