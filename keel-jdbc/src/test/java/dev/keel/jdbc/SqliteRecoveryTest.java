package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.spi.JournalException;
import dev.keel.test.TestClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A runtime on a SQLite file, closed and built again on the same file: what was stored carries on. */
class SqliteRecoveryTest {
    @TempDir
    Path dir;

    private final TestClock clock = TestClock.create();
    private final List<String> delivered = new ArrayList<>();

    private Keel runtime(Path file, boolean failing) {
        Keel keel = Keel.builder()
                .clock(clock)
                .lanes(4)
                .journal(JdbcJournal.builder().sqlite(file).clock(clock).build())
                .build();
        keel.subscribe(Subscription.builder("billing")
                .types("order.*")
                .retry(RetryPolicy.builder()
                        .maxAttempts(3)
                        .initialDelay(Duration.ofMinutes(1))
                        .maxDelay(Duration.ofMinutes(1))
                        .jitter(0)
                        .build())
                .handler(Map.class, d -> {
                    String id = (String) d.data().get("id");
                    if (failing && id.startsWith("bad")) {
                        throw new IOException("ledger down for " + id);
                    }
                    delivered.add(id);
                })
                .build());
        return keel;
    }

    @Test
    void shouldResumeCursorsRetriesParkedEventsAndDeadLettersAfterARestart() {
        Path file = dir.resolve("keel.db");
        try (Keel first = runtime(file, true)) {
            first.emit("order.created", "a", Map.of("id", "a1")).join();
            first.emit("order.created", "b", Map.of("id", "bad-b1")).join();
            first.emit("order.created", "b", Map.of("id", "b2")).join(); // parked behind bad-b1
            first.emit("order.created", "c", Map.of("id", "bad-c1")).join();
            first.process();
            assertThat(delivered).containsExactly("a1");
            clock.advance(Duration.ofMinutes(1));
            first.process();
            clock.advance(Duration.ofMinutes(1));
            first.process(); // bad-c1 and bad-b1 reach their third attempt: dead letters
            first.emit("order.created", "d", Map.of("id", "bad-d1")).join();
            first.process(); // bad-d1 fails once and waits for its retry
            first.emit("order.created", "e", Map.of("id", "e1")).join(); // not delivered before close
        }
        assertThat(delivered).containsExactly("a1", "b2");

        delivered.clear();
        try (Keel second = runtime(file, false)) {
            second.process();
            assertThat(delivered).containsExactly("e1");
            assertThat(second.deadLetters().list(DeadLetterQuery.all()))
                    .extracting(d -> d.event().partitionKey())
                    .containsExactlyInAnyOrder("b", "c");
            assertThat(second.deadLetters()
                            .list(DeadLetterQuery.all().withKey("b"))
                            .getFirst()
                            .errors())
                    .hasSize(3);
            clock.advance(Duration.ofMinutes(1));
            second.process();
            assertThat(delivered).containsExactly("e1", "bad-d1");
            String id = second.deadLetters()
                    .list(DeadLetterQuery.all().withKey("c"))
                    .getFirst()
                    .id();
            second.deadLetters().reprocess(id);
            second.process();
            assertThat(delivered).containsExactly("e1", "bad-d1", "bad-c1");
        }
    }

    @Test
    void shouldNeverPruneEventsASubscriptionNotRegisteredYetStillNeeds() {
        Path file = dir.resolve("keel.db");
        try (Keel first = runtime(file, false)) {
            first.emit("order.created", "a", Map.of("id", "a1")).join();
            first.emit("order.created", "b", Map.of("id", "b1")).join();
        }
        clock.advance(Duration.ofMinutes(1)); // the events are now old enough to prune, were they passed
        // A runtime that runs its maintenance before "billing" registers again.
        try (Keel bare = Keel.builder()
                .clock(clock)
                .lanes(4)
                .journal(JdbcJournal.builder().sqlite(file).clock(clock).build())
                .build()) {
            bare.process();
        }
        try (Keel again = runtime(file, false)) {
            again.process();
        }
        assertThat(delivered).containsExactlyInAnyOrder("a1", "b1");
    }

    @Test
    void shouldRefuseAFileThatIsNotADatabaseAndLeaveItUntouched() throws Exception {
        Path file = dir.resolve("notes.txt");
        Files.writeString(file, "my shopping list, not a database");
        byte[] before = Files.readAllBytes(file);
        assertThatThrownBy(
                        () -> Keel.builder().journal(JdbcJournal.sqlite(file)).build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("is not a SQLite database")
                .hasMessageContaining("untouched");
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    @Test
    void shouldDeadLetterADamagedEnvelopeWithItsBytesAndDeliverWhatFollows() throws Exception {
        Path file = dir.resolve("keel.db");
        try (Keel first = runtime(file, false)) {
            first.emit("order.created", "a", Map.of("id", "a1")).join();
            first.emit("order.created", "a", Map.of("id", "a2")).join();
            first.emit("order.created", "a", Map.of("id", "a3")).join();
        } // closed before delivering: the subscription's cursor is still before them
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement()) {
            assertThat(s.executeUpdate("UPDATE keel_log SET envelope = X'7B6E6F74206A736F6E' WHERE seq = 2"))
                    .isEqualTo(1); // "{not json"
        }
        try (Keel second = runtime(file, false)) {
            second.process();
            assertThat(delivered).containsExactly("a1", "a3");
            List<dev.keel.DeadLetter> dead = second.deadLetters().list(DeadLetterQuery.all());
            assertThat(dead).hasSize(1);
            assertThat(dead.getFirst().event().type()).isEqualTo(dev.keel.spi.LogRecord.UNREADABLE_TYPE);
            assertThat((byte[]) dead.getFirst().event().data())
                    .asString(java.nio.charset.StandardCharsets.UTF_8)
                    .isEqualTo("{not json");
            assertThat(dead.getFirst().reason()).contains("not a Keel event");
        }
    }

    @Test
    void shouldRefuseAnotherApplicationsDatabaseAndLeaveItUntouched() throws Exception {
        Path file = dir.resolve("other.db");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
            s.execute("INSERT INTO customers VALUES (1, 'Ada')");
        }
        byte[] before = Files.readAllBytes(file);
        assertThatThrownBy(
                        () -> Keel.builder().journal(JdbcJournal.sqlite(file)).build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("holds tables that are not Keel's");
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    @Test
    void shouldRefuseToReopenAJournalWithAnotherLaneCount() {
        Path file = dir.resolve("keel.db");
        Keel.builder().lanes(4).journal(JdbcJournal.sqlite(file)).build().close();
        assertThatThrownBy(() -> Keel.builder()
                        .lanes(8)
                        .journal(JdbcJournal.sqlite(file))
                        .build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("was created with 4 lanes")
                .hasMessageContaining("Use lanes(4)");
    }

    @Test
    void shouldRefuseMalformedUrlsWithTheFormThatWorks() {
        assertThatThrownBy(() -> JdbcJournal.builder().url("jdbc:mysql://x/y", null, null))
                .hasMessageContaining("use jdbc:sqlite:<file> or jdbc:postgresql://host:port/database");
        assertThatThrownBy(() -> JdbcJournal.builder().url("jdbc:sqlite::memory:", null, null))
                .hasMessageContaining("needs a plain file path");
    }

    @Test
    void shouldDeliverContinuouslyWhenStarted() {
        Path file = dir.resolve("live.db");
        List<Integer> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        try (Keel keel =
                Keel.builder().lanes(2).journal(JdbcJournal.sqlite(file)).build()) {
            keel.on("tick.*", Integer.class, d -> seen.add(d.data()));
            keel.start();
            List<java.util.concurrent.CompletableFuture<?>> acks = new ArrayList<>();
            for (int i = 0; i < 500; i++) {
                acks.add(keel.emit("tick.tock", "k", i));
            }
            acks.forEach(java.util.concurrent.CompletableFuture::join);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20)).until(() -> seen.size() == 500);
            assertThat(seen).isSorted();
        }
    }
}
