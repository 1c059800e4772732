package dev.keel.jdbc;

import com.zaxxer.hikari.HikariDataSource;
import dev.keel.spi.JournalException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The journal's schema: migrated at open (Flyway; safe when several instances start at once on PostgreSQL,
 * which serialises migrations with an advisory lock), and the lane count it was created with, which a runtime
 * asking for another is refused.
 */
final class Schema {
    /** Where the migrations are, on the class path. */
    static final String LOCATION = "db/keel";
    /** Flyway's record of the migrations applied to a journal. */
    static final String HISTORY_TABLE = "keel_schema_history";

    private static final java.util.regex.Pattern MIGRATION = java.util.regex.Pattern.compile("V(\\d+)__[^/]*\\.sql");

    private Schema() {}

    /**
     * Migrates the schema to the latest version.
     *
     * @param shared whether the database may hold an application's tables beside Keel's: a schema that is not
     *     empty and has no Keel history is then taken as version 0 (Flyway's baseline), and every migration runs
     */
    static void migrate(HikariDataSource ds, Dialect dialect, boolean shared) {
        refuseNewer(ds, dialect);
        try {
            Flyway.configure()
                    .dataSource(ds)
                    .baselineOnMigrate(shared)
                    .baselineVersion("0")
                    .locations("classpath:" + LOCATION)
                    .table(HISTORY_TABLE)
                    .placeholders(Map.of(
                            "blob",
                            dialect.blobType(),
                            "position",
                            dialect.positionType(),
                            "clustered",
                            dialect.singleWriter() ? "WITHOUT ROWID" : "",
                            "identity_key",
                            dialect.identityKey(),
                            "lock_old_log",
                            dialect.sharedByInstances() ? "LOCK TABLE keel_events IN EXCLUSIVE MODE;" : ""))
                    .load()
                    .migrate();
        } catch (FlywayException e) {
            String message = Database.rootMessage(e);
            if (message.contains("non-empty schema") || message.contains("without schema history")) {
                throw new JournalException(
                        dialect.name() + " holds tables that are not Keel's; Keel left them untouched."
                                + " Give Keel its own database (or SQLite file), or build the journal with"
                                + " shareDatabase() to keep Keel's tables (all named keel_*) beside them",
                        e);
            }
            throw new JournalException("cannot prepare the journal schema in " + dialect.name() + ": " + message, e);
        }
    }

    /**
     * Refuses a journal a newer Keel has migrated: Flyway would skip the migrations it does not know, and this Keel
     * would then read tables whose shape it does not know. Nothing is changed.
     */
    private static void refuseNewer(HikariDataSource ds, Dialect dialect) {
        int stored;
        try (Connection c = ds.getConnection();
                PreparedStatement s = c.prepareStatement("SELECT MAX(CAST(version AS INTEGER)) FROM " + HISTORY_TABLE
                        + " WHERE success = " + (dialect.singleWriter() ? "1" : "TRUE"));
                ResultSet r = s.executeQuery()) {
            stored = r.next() ? r.getInt(1) : 0;
        } catch (SQLException e) {
            return; // no history yet (a new journal, or tables that are not Keel's: the migration says which)
        }
        int known = latestVersion();
        if (stored > known) {
            throw new JournalException(dialect.name() + "'s journal schema is at version " + stored
                    + ", newer than this Keel knows (" + known + "): a newer Keel upgraded it, and Keel left it"
                    + " untouched. Run that newer version, or restore the backup taken before the upgrade"
                    + " (docs/backup-and-recovery.md)");
        }
    }

    /** Records the lane count on first use and refuses another one later; makes the lanes' rows. */
    static void checkLanes(HikariDataSource ds, Dialect dialect, int laneCount) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            String stored = null;
            try (PreparedStatement s = c.prepareStatement("SELECT value FROM keel_meta WHERE name = 'lanes'");
                    ResultSet r = s.executeQuery()) {
                if (r.next()) {
                    stored = r.getString(1);
                }
            }
            if (stored == null) {
                try (PreparedStatement s = c.prepareStatement(
                        "INSERT INTO keel_meta (name, value) VALUES ('lanes', ?) ON CONFLICT (name) DO NOTHING")) {
                    s.setString(1, Integer.toString(laneCount));
                    s.executeUpdate();
                }
                try (PreparedStatement s = c.prepareStatement("SELECT value FROM keel_meta WHERE name = 'lanes'");
                        ResultSet r = s.executeQuery()) {
                    r.next();
                    stored = r.getString(1);
                }
            }
            if (Integer.parseInt(stored) != laneCount) {
                c.rollback();
                throw new JournalException("the journal in " + dialect.name() + " was created with " + stored
                        + " lanes, and this runtime asks for " + laneCount
                        + "; keys would move to other lanes and lose their order. Use lanes(" + stored + ")");
            }
            try (PreparedStatement s = c.prepareStatement(
                            "INSERT INTO keel_lanes (lane, head) VALUES (?, 0) ON CONFLICT (lane) DO NOTHING");
                    PreparedStatement l = c.prepareStatement("INSERT INTO keel_leases (lane, owner, token, expires_at)"
                            + " VALUES (?, NULL, 0, 0) ON CONFLICT (lane) DO NOTHING")) {
                for (int lane = 0; lane < laneCount; lane++) {
                    s.setInt(1, lane);
                    s.addBatch();
                    l.setInt(1, lane);
                    l.addBatch();
                }
                s.executeBatch();
                l.executeBatch();
            }
            c.commit();
        } catch (SQLException e) {
            throw Database.failure(dialect, "prepare the lanes", e);
        }
    }

    /**
     * The highest schema version among the migrations this Keel carries (read from the class path, a directory or
     * a jar): a journal whose history goes past it was written by a newer Keel.
     */
    static int latestVersion() {
        java.net.URL dir = Schema.class.getClassLoader().getResource(LOCATION);
        if (dir == null) {
            throw new JournalException("Keel's schema migrations (" + LOCATION + ") are not on the class path");
        }
        java.util.List<String> names = new java.util.ArrayList<>();
        try {
            if (dir.getProtocol().equals("jar")) {
                java.net.JarURLConnection connection = (java.net.JarURLConnection) dir.openConnection();
                connection.setUseCaches(false);
                try (java.util.jar.JarFile jar = connection.getJarFile()) {
                    jar.stream()
                            .map(java.util.jar.JarEntry::getName)
                            .filter(n -> n.startsWith(LOCATION + "/"))
                            .map(n -> n.substring(LOCATION.length() + 1))
                            .forEach(names::add);
                }
            } else {
                try (java.util.stream.Stream<java.nio.file.Path> files =
                        java.nio.file.Files.list(java.nio.file.Path.of(dir.toURI()))) {
                    files.map(f -> f.getFileName().toString()).forEach(names::add);
                }
            }
        } catch (java.io.IOException | java.net.URISyntaxException | RuntimeException e) {
            throw new JournalException("cannot list Keel's schema migrations at " + dir + ": " + e.getMessage(), e);
        }
        return names.stream()
                .map(MIGRATION::matcher)
                .filter(java.util.regex.Matcher::matches)
                .mapToInt(m -> Integer.parseInt(m.group(1)))
                .max()
                .orElseThrow(() -> new JournalException("no schema migrations found at " + dir));
    }
}
