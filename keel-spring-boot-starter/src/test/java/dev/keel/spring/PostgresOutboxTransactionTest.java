package dev.keel.spring;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The outbox and transactional listeners with Keel's tables in the application's PostgreSQL database. */
class PostgresOutboxTransactionTest extends OutboxTransactionContract {
    private static final AtomicInteger DATABASES = new AtomicInteger();
    private static EmbeddedPostgres postgres;

    @BeforeAll
    static void startPostgres() throws Exception {
        postgres = EmbeddedPostgres.builder()
                .setServerConfig("listen_addresses", "127.0.0.1")
                .start();
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        postgres.close();
    }

    private String url;

    @Override
    String[] dataSource() throws Exception {
        String name = "shop_" + DATABASES.incrementAndGet();
        try (Connection c = postgres.getPostgresDatabase().getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        url = "jdbc:postgresql://127.0.0.1:" + postgres.getPort() + "/" + name;
        return new String[] {
            "spring.datasource.url=" + url, "spring.datasource.username=postgres", "spring.datasource.password="
        };
    }

    @Override
    void createTables(String[] dataSource) throws Exception {
        try (Connection c = DriverManager.getConnection(url, "postgres", "");
                Statement s = c.createStatement()) {
            s.execute(ORDERS);
            s.execute(PAYMENTS);
        }
    }
}
