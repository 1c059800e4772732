package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Keel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A SQLite journal's file from outside: its schema version, what it holds, a copy, and who holds it. */
class SqliteJournalFileTest {
    @TempDir
    Path dir;

    @Test
    void shouldKnowTheHighestMigrationAsTheSchemaVersion() throws Exception {
        int highest;
        try (Stream<Path> files = Files.list(Path.of("src/main/resources/db/keel"))) {
            highest = files.map(f -> f.getFileName().toString())
                    .mapToInt(n -> Integer.parseInt(n.substring(1, n.indexOf("__"))))
                    .max()
                    .orElseThrow();
        }

        assertThat(SqliteJournalFile.knownSchemaVersion()).isEqualTo(highest);
    }

    @Test
    void shouldCopyAnOpenJournalAndTellThatItIsHeld() {
        Path db = dir.resolve("keel.db");
        JdbcJournal journal = JdbcJournal.sqlite(db);
        // Not started: with no subscription and no retention, a started runtime's maintenance may prune the events
        // before the copy is taken.
        try (Keel keel = Keel.builder().journal(journal).lanes(2).build()) {
            for (int i = 0; i < 3; i++) {
                keel.emit("order.created", "k" + i, i).join();
            }
            SqliteJournalFile file = new SqliteJournalFile(db);
            assertThat(file.inUse()).isTrue();

            SqliteJournalFile.Contents copy = file.backupTo(dir.resolve("copy.db"), false);

            assertThat(copy.events()).isEqualTo(3);
            assertThat(copy.lanes()).isEqualTo(2);
            assertThat(copy.schemaVersion()).isEqualTo(SqliteJournalFile.knownSchemaVersion());
            assertThatThrownBy(() -> file.backupTo(dir.resolve("copy.db"), false))
                    .hasMessageContaining("exists");
        }
        assertThat(new SqliteJournalFile(db).inUse()).isFalse();
        assertThat(new SqliteJournalFile(dir.resolve("copy.db")).inspect().events())
                .isEqualTo(3);
    }
}
