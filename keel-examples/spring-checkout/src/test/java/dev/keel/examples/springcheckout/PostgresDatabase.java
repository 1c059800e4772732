package dev.keel.examples.springcheckout;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real PostgreSQL on loopback with a new database, for one test class. It starts before the class's Spring
 * context loads and stops after that context has closed: the server is a resource of the class's extension
 * context, closed after every after-all step (the Spring context's closing, for a {@code @DirtiesContext} class,
 * is one of them).
 */
final class PostgresDatabase implements BeforeAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(PostgresDatabase.class);

    private volatile String url;

    @Override
    public void beforeAll(ExtensionContext context) throws IOException, SQLException {
        EmbeddedPostgres started = EmbeddedPostgres.builder()
                .setServerConfig("listen_addresses", "127.0.0.1")
                .start();
        context.getStore(NAMESPACE).put(EmbeddedPostgres.class, (AutoCloseable) started::close);
        try (Connection c = started.getPostgresDatabase().getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE checkout");
        }
        url = "jdbc:postgresql://127.0.0.1:" + started.getPort() + "/checkout";
    }

    String url() {
        if (url == null) {
            throw new IllegalStateException("PostgreSQL is not started: register PostgresDatabase as an extension");
        }
        return url;
    }

    String user() {
        return "postgres";
    }
}
