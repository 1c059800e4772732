package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A journal a newer Keel migrated is refused, untouched, rather than read with tables this Keel does not know. */
class SchemaVersionTest {
    @TempDir
    Path dir;

    @Test
    void shouldRefuseAJournalANewerKeelUpgraded() throws Exception {
        Path db = dir.resolve("keel.db");
        try (Keel keel = Keel.builder().lanes(2).journal(JdbcJournal.sqlite(db)).build()) {
            keel.emit("order.placed", "k", 1).join();
        }
        int known = Schema.latestVersion();
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
                Statement s = c.createStatement()) {
            // What a newer Keel's next migration would leave in the history.
            s.executeUpdate("INSERT INTO " + Schema.HISTORY_TABLE
                    + " (installed_rank, version, description, type, script, checksum, installed_by, execution_time,"
                    + " success) VALUES (999, '" + (known + 1) + "', 'from a newer keel', 'SQL', 'V" + (known + 1)
                    + "__newer.sql', 0, 'keel', 1, 1)");
        }

        assertThatThrownBy(() ->
                        Keel.builder().lanes(2).journal(JdbcJournal.sqlite(db)).build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("schema is at version " + (known + 1))
                .hasMessageContaining("newer than this Keel knows (" + known + ")")
                .hasMessageContaining("restore the backup taken before the upgrade");

        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT COUNT(*) FROM keel_log")) {
            assertThat(r.next()).isTrue();
            assertThat(r.getInt(1)).isEqualTo(1); // untouched
        }
    }
}
