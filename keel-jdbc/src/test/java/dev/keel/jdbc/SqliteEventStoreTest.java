package dev.keel.jdbc;

import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.spi.Journal;
import dev.keel.test.eventsourcing.EventStoreContract;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

class SqliteEventStoreTest extends EventStoreContract {
    @TempDir
    Path dir;

    @Override
    protected Journal newJournal() {
        return JdbcJournal.sqlite(dir.resolve("keel.db"));
    }

    @Override
    protected EventStore eventStore(Journal opened) {
        return ((JdbcJournal) opened).eventStore();
    }
}
