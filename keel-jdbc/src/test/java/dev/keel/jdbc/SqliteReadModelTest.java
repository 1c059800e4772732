package dev.keel.jdbc;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

class SqliteReadModelTest extends ReadModelContract {
    @TempDir
    Path dir;

    @Override
    JdbcJournal newJournal() {
        return JdbcJournal.sqlite(dir.resolve("keel.db"));
    }
}
