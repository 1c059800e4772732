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

    private String url;

    @Override
    protected Journal newJournal() throws Exception {
        url = server.newDatabase();
        return JdbcJournal.postgres(url, server.user(), null);
    }

    /** Another runtime's journal on the same database, as another instance of a service opens it. */
    @Override
    protected Journal sameStore() {
        return JdbcJournal.postgres(url, server.user(), null);
    }
}
