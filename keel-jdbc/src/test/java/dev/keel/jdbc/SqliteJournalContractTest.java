package dev.keel.jdbc;

import dev.keel.spi.Journal;
import dev.keel.test.JournalContract;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

class SqliteJournalContractTest extends JournalContract {
    @TempDir
    Path dir;

    @Override
    protected Journal newJournal() {
        return JdbcJournal.sqlite(dir.resolve("keel.db"));
    }
}
