package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A full disk, simulated with the file-size cap: typed errors, nothing corrupted, recovery with room. */
class SqliteFullDiskTest {
    @TempDir
    Path dir;

    @Test
    void shouldFailEmitsWithATypedErrorWhenFullAndCarryOnOnceThereIsRoom() {
        Path file = dir.resolve("keel.db");
        String payload = "x".repeat(2_000);
        int stored = 0;
        JournalException full = null;
        try (Keel keel = Keel.builder()
                .lanes(2)
                .journal(JdbcJournal.builder()
                        .sqlite(file)
                        .maxDatabaseBytes(512 * 1024)
                        .build())
                .build()) {
            keel.on("blob.*", String.class, d -> {});
            for (int i = 0; i < 2_000 && full == null; i++) {
                try {
                    keel.emit("blob.stored", "k" + (i % 7), payload).join();
                    stored++;
                } catch (CompletionException e) {
                    full = (JournalException) e.getCause();
                }
            }
        }
        assertThat(full).as("the cap is reached").isNotNull();
        assertThat(full.getMessage()).contains("The disk is full");
        assertThat(stored).isGreaterThan(10);

        List<String> delivered = new ArrayList<>();
        try (Keel keel = Keel.builder()
                .lanes(2)
                .journal(JdbcJournal.builder().sqlite(file).build())
                .build()) {
            keel.on("blob.*", String.class, d -> delivered.add(d.event().id()));
            keel.process();
            keel.emit("blob.stored", "k", "after").join();
            keel.process();
        }
        assertThat(delivered)
                .as("everything stored before the disk filled, and the new event")
                .hasSize(stored + 1);
    }
}
