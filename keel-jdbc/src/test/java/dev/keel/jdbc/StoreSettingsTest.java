package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StoreSettingsTest {
    @TempDir
    Path dir;

    @Test
    void shouldDefaultToASqliteFileInTheDataDirectory() {
        StoreSettings s = StoreSettings.fromEnvironment(Map.of());
        assertThat(s.store()).isEqualTo(StoreSettings.Store.SQLITE);
        assertThat(s.url()).isEqualTo("jdbc:sqlite:" + Path.of("./keel-data").resolve("keel.db"));
        assertThat(s.lanes()).isEqualTo(8);
        assertThat(s.poolSize()).isEqualTo(8);
        assertThat(s.retention()).isZero();
    }

    @Test
    void shouldBuildARuntimeOnTheConfiguredStore() {
        StoreSettings s = StoreSettings.fromEnvironment(
                Map.of("KEEL_DATA_DIR", dir.toString(), "KEEL_LANES", "4", "KEEL_RETENTION", "2h"));
        try (Keel keel = s.applyTo(Keel.builder()).build()) {
            keel.emit("a.b", "k", 1).join();
            assertThat(keel.stats().lanes()).isEqualTo(4);
        }
        assertThat(Files.exists(dir.resolve("keel.db"))).isTrue();
        assertThat(s.retention()).isEqualTo(Duration.ofHours(2));
    }

    @Test
    void shouldSayWhatIsWrongWithEachBadSetting() {
        assertThatThrownBy(() -> StoreSettings.fromEnvironment(Map.of("KEEL_STORE", "mongo")))
                .hasMessage("KEEL_STORE is 'mongo'; use sqlite (the default), postgres or memory"
                        + " (keel serve also runs on kafka)");
        assertThatThrownBy(() -> StoreSettings.fromEnvironment(Map.of("KEEL_STORE", "postgres")))
                .hasMessageContaining("needs KEEL_JDBC_URL");
        assertThatThrownBy(() -> StoreSettings.fromEnvironment(
                        Map.of("KEEL_STORE", "postgres", "KEEL_JDBC_URL", "jdbc:sqlite:x.db")))
                .hasMessageContaining("needs a jdbc:postgresql:// URL");
        assertThatThrownBy(() -> StoreSettings.fromEnvironment(Map.of("KEEL_LANES", "zero")))
                .hasMessage("KEEL_LANES must be a whole number from 1 to 1024 but was 'zero'");
        assertThatThrownBy(() -> StoreSettings.fromEnvironment(Map.of("KEEL_RETENTION", "a week")))
                .hasMessageContaining("KEEL_RETENTION: 'a week' is not a duration");
    }

    @Test
    void shouldParseShortAndIsoDurations() {
        assertThat(StoreSettings.parseDuration("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(StoreSettings.parseDuration("2s")).isEqualTo(Duration.ofSeconds(2));
        assertThat(StoreSettings.parseDuration("1m")).isEqualTo(Duration.ofMinutes(1));
        assertThat(StoreSettings.parseDuration("7d")).isEqualTo(Duration.ofDays(7));
        assertThat(StoreSettings.parseDuration("PT1.5S")).isEqualTo(Duration.ofMillis(1500));
    }

    @Test
    void shouldFailAtStartNotHalfStartedWhenTheDatabaseIsUnreachable() {
        StoreSettings s = StoreSettings.fromEnvironment(Map.of(
                "KEEL_STORE", "postgres", "KEEL_JDBC_URL", "jdbc:postgresql://127.0.0.1:1/keel?connectTimeout=1"));
        assertThatThrownBy(() -> s.applyTo(Keel.builder()).build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("cannot reach the journal database");
    }
}
