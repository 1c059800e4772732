package dev.keel.jdbc;

import dev.keel.spi.Journal;
import dev.keel.test.JournalContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

class PostgresJournalContractTest extends JournalContract {
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
}
