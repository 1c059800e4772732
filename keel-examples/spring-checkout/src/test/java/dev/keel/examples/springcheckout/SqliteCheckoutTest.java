package dev.keel.examples.springcheckout;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/** The checkout on SQLite, the default: one file holds the application's tables and Keel's. */
class SqliteCheckoutTest extends CheckoutContract {
    @TempDir
    static Path dir;

    @DynamicPropertySource
    static void database(DynamicPropertyRegistry registry) {
        registry.add("spring.datasource.url", () -> "jdbc:sqlite:" + dir.resolve("checkout.db"));
    }

    @Test
    void theApplicationsConnectionsWaitForTheWriteLockKeelHolds() {
        // From spring.datasource.hikari.data-source-properties in application.properties.
        assertThat(jdbc.sql("PRAGMA busy_timeout").query(Long.class).single()).isEqualTo(10_000L);
        assertThat(jdbc.sql("PRAGMA foreign_keys").query(Long.class).single()).isOne();
    }
}
