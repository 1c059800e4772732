package dev.keel.spring;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import org.junit.jupiter.api.io.TempDir;

/** The outbox and transactional listeners with Keel's tables in the application's SQLite file. */
class SqliteOutboxTransactionTest extends OutboxTransactionContract {
    @TempDir
    Path dir;

    @Override
    String[] dataSource() {
        // The application's connections wait for Keel's writer rather than fail at once: one writer at a time.
        return new String[] {"spring.datasource.url=jdbc:sqlite:" + dir.resolve("shop.db") + "?busy_timeout=10000"};
    }

    @Override
    void createTables(String[] dataSource) throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("shop.db"));
                Statement s = c.createStatement()) {
            s.execute(ORDERS);
            s.execute(PAYMENTS);
        }
    }
}
