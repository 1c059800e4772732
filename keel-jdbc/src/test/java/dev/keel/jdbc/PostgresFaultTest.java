package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PostgreSQL going away and coming back, and a database that cannot be reached at all. */
class PostgresFaultTest {
    @TempDir
    Path dataDir;

    @Test
    void shouldFailEmitsWhileTheDatabaseIsDownAndResumeDeliveryWhenItReturns() throws Exception {
        EmbeddedPostgres.Builder builder = EmbeddedPostgres.builder()
                .setServerConfig("listen_addresses", "127.0.0.1")
                .setDataDirectory(dataDir.resolve("pg"))
                .setCleanDataDirectory(false);
        EmbeddedPostgres pg = builder.start();
        int port = pg.getPort();
        try (Connection c = pg.getPostgresDatabase().getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE keel");
        }
        String url = "jdbc:postgresql://127.0.0.1:" + port + "/keel?connectTimeout=2&socketTimeout=5";
        List<Integer> seen = new CopyOnWriteArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .journal(JdbcJournal.builder().postgres(url, "postgres", null).build())
                .build()) {
            keel.on("job.*", Integer.class, d -> seen.add(d.data()));
            keel.start();
            keel.emit("job.run", "k", 1).join();
            await().atMost(Duration.ofSeconds(10)).until(() -> seen.contains(1));

            pg.close();
            assertThatThrownBy(() -> keel.emit("job.run", "k", 2).join())
                    .isInstanceOf(CompletionException.class)
                    .hasCauseInstanceOf(JournalException.class)
                    .hasMessageContaining("could not store 1 events");

            pg = builder.setPort(port).start();
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> {
                keel.emit("job.run", "k", 3).join();
                return true;
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.contains(3));
            assertThat(seen).doesNotContain(2);
        } finally {
            pg.close();
        }
    }

    @Test
    void shouldFailAtStartWithAClearMessageWhenTheDatabaseCannotBeReached() {
        assertThatThrownBy(() -> Keel.builder()
                        .journal(JdbcJournal.postgres(
                                "jdbc:postgresql://127.0.0.1:1/keel?connectTimeout=1", "postgres", null))
                        .build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("cannot reach the journal database PostgreSQL")
                .hasMessageContaining("KEEL_JDBC_URL");
    }
}
