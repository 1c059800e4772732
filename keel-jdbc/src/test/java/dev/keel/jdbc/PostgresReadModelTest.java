package dev.keel.jdbc;

class PostgresReadModelTest extends ReadModelContract {
    @org.junit.jupiter.api.BeforeAll
    static void startPostgres() throws Exception {
        server = PostgresServer.start();
    }

    @org.junit.jupiter.api.AfterAll
    static void stopPostgres() throws Exception {
        server.close();
    }

    private static PostgresServer server;

    @Override
    JdbcJournal newJournal() throws Exception {
        return JdbcJournal.postgres(server.newDatabase(), server.user(), null);
    }
}
