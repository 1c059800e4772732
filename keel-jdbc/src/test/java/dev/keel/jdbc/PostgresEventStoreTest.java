package dev.keel.jdbc;

import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.spi.Journal;
import dev.keel.test.eventsourcing.EventStoreContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

class PostgresEventStoreTest extends EventStoreContract {
    private static PostgresServer server;

    @BeforeAll
    static void startPostgres() throws Exception {
        server = PostgresServer.start();
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        server.close();
    }

    @Override
    protected Journal newJournal() throws Exception {
        return JdbcJournal.postgres(server.newDatabase(), server.user(), null);
    }

    @Override
    protected EventStore eventStore(Journal opened) {
        return ((JdbcJournal) opened).eventStore();
    }
}
