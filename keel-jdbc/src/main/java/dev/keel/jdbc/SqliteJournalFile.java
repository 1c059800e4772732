package dev.keel.jdbc;

import dev.keel.spi.JournalException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteConnection;

/**
 * The file of a SQLite journal, seen from outside the runtime that writes it: what it holds, a consistent copy of
 * it taken while a server keeps writing, and whether a process has it open. {@code keel backup} and
 * {@code keel restore} are made of these.
 *
 * <p><b>How the copy is taken.</b> With SQLite's online backup API, all pages in one step: the copy is one read
 * transaction of the source, so it is exactly the journal as of one commit (every event, cursor, pending entry
 * and dead letter of that commit and before, nothing after). The journal runs in write-ahead-log mode, where a
 * reader never blocks the writer: appends and commits go on during the copy; only the folding of the log into the
 * file (the checkpoint) cannot pass the copy's snapshot until it ends, so the log grows meanwhile. Two
 * alternatives were weighed and left: the backup API in small steps (what sqlite-jdbc's {@code backup to}
 * statement does, 100 pages a step) starts over whenever another connection writes between two steps, so under a
 * steady load it may never finish; {@code VACUUM INTO} is as consistent but rebuilds every table and index, which
 * keeps the read transaction (and the log's growth) open longer, and does not sync its output. The page copy
 * runs at the speed of a sequential file copy; the copy is synced to disk before it is given its name.
 */
public final class SqliteJournalFile {
    private static final byte[] HEADER = "SQLite format 3\u0000".getBytes(StandardCharsets.US_ASCII);
    private static final int SQLITE_OK = 0;
    /** How long the probe of {@link #inUse()} waits for the file's lock. */
    private static final int PROBE_WAIT_MS = 250;

    private final Path file;

    /** @param file the journal's file ({@code keel.db} in a data directory) */
    public SqliteJournalFile(Path file) {
        this.file = Objects.requireNonNull(file, "file").toAbsolutePath().normalize();
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** The highest schema version this Keel knows; a journal past it was written by a newer Keel. */
    public static int knownSchemaVersion() {
        return Schema.latestVersion();
    }

    /**
     * What a journal at rest holds (a backup, or a journal no process writes), read without writing to it or
     * beside it; its integrity is checked in full ({@code PRAGMA integrity_check}).
     *
     * @throws Unusable when the file is missing, not a SQLite database, not a Keel journal, or damaged
     */
    public Contents inspect() {
        checkHeader();
        SQLiteConfig config = new SQLiteConfig();
        config.setReadOnly(true);
        // immutable: no lock, no write-ahead log or shared-memory file created beside it.
        try (Connection c = config.createConnection("jdbc:sqlite:" + file.toUri() + "?immutable=1")) {
            checkKeelSchema(c);
            List<String> problems = new ArrayList<>();
            try (Statement s = c.createStatement();
                    ResultSet r = s.executeQuery("PRAGMA integrity_check(20)")) {
                while (r.next()) {
                    problems.add(r.getString(1));
                }
            }
            if (!problems.equals(List.of("ok"))) {
                throw new Unusable("'" + file + "' is damaged: SQLite's integrity check found "
                        + String.join("; ", problems) + ". Use another backup");
            }
            String log = tableExists(c, "keel_log") ? "keel_log" : "keel_events";
            return new Contents(
                    file,
                    schemaVersion(c),
                    count(c, "SELECT COUNT(*) FROM " + log),
                    (int) count(c, "SELECT COUNT(*) FROM keel_lanes"),
                    count(c, "SELECT COUNT(DISTINCT subscription) FROM keel_cursors"),
                    count(c, "SELECT COUNT(*) FROM keel_dead_letters"),
                    Files.size(file));
        } catch (SQLException | IOException e) {
            throw new Unusable("'" + file + "' cannot be read as a SQLite journal: " + e.getMessage(), e);
        }
    }

    /**
     * Copies the journal, consistently, while it may be written (see the class description), to {@code target},
     * which appears only once the copy is complete, checked and on disk.
     *
     * @param target where the copy goes; its directory must exist
     * @param replace whether an existing {@code target} is replaced
     * @return what the copy holds
     * @throws Unusable when this file is not a Keel journal
     * @throws JournalException when the copy fails; nothing is left at {@code target} then
     */
    public Contents backupTo(Path target, boolean replace) {
        Path to = target.toAbsolutePath().normalize();
        if (to.equals(file)) {
            throw new JournalException("the backup's target is the journal itself (" + file + "); name another file");
        }
        if (!replace && Files.exists(to)) {
            throw new JournalException("'" + to + "' exists; Keel left it untouched");
        }
        checkHeader();
        Path partial = to.resolveSibling(to.getFileName() + ".partial-" + UUID.randomUUID());
        try {
            SQLiteConfig config = new SQLiteConfig();
            config.setReadOnly(true);
            config.setBusyTimeout(SqliteDialect.BUSY_TIMEOUT_MS);
            try (Connection c = config.createConnection("jdbc:sqlite:" + file)) {
                checkKeelSchema(c);
                // -1: every page in one step, under one read transaction (see the class description).
                int rc = c.unwrap(SQLiteConnection.class)
                        .getDatabase()
                        .backup("main", partial.toString(), null, 100, 100, -1);
                if (rc != SQLITE_OK) {
                    throw new JournalException("SQLite's backup of " + file + " to " + partial + " failed (code " + rc
                            + "); nothing was written to " + to);
                }
            }
            sync(partial);
            Contents copied = new SqliteJournalFile(partial).inspect();
            if (replace) {
                Files.move(partial, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.move(partial, to, StandardCopyOption.ATOMIC_MOVE);
            }
            syncDirectory(to.getParent());
            return new Contents(
                    to,
                    copied.schemaVersion(),
                    copied.events(),
                    copied.lanes(),
                    copied.subscriptions(),
                    copied.deadLetters(),
                    copied.bytes());
        } catch (SQLException | IOException e) {
            throw new JournalException("could not copy the journal " + file + " to " + to + ": " + e.getMessage(), e);
        } finally {
            try {
                Files.deleteIfExists(partial);
            } catch (IOException e) {
                // left behind with its .partial- name; it is never mistaken for a backup
            }
        }
    }

    /**
     * Whether a process (a running {@code keel serve}, or another runtime) has the journal open: asks SQLite for
     * the file's exclusive lock for a moment, which every open connection of a journal in write-ahead-log mode
     * prevents. When no one holds it, the probe's own close folds a left-over write-ahead log into the file, as
     * any last connection does; nothing else changes.
     *
     * @return false also when the file does not exist
     */
    public boolean inUse() {
        if (!Files.exists(file)) {
            return false;
        }
        checkHeader();
        SQLiteConfig config = new SQLiteConfig();
        config.setLockingMode(SQLiteConfig.LockingMode.EXCLUSIVE);
        config.setBusyTimeout(PROBE_WAIT_MS);
        try (Connection c = config.createConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement()) {
            s.execute("BEGIN EXCLUSIVE");
            try (ResultSet r = s.executeQuery("SELECT COUNT(*) FROM sqlite_master")) {
                r.next();
            }
            s.execute("ROLLBACK");
            return false;
        } catch (SQLException e) {
            String message = String.valueOf(e.getMessage());
            if (message.contains("SQLITE_BUSY") || message.contains("SQLITE_LOCKED")) {
                return true;
            }
            throw new JournalException("cannot tell whether a process holds " + file + ": " + message, e);
        }
    }

    private void checkHeader() {
        if (!Files.isRegularFile(file)) {
            throw new Unusable("'" + file + "' does not exist or is not a file");
        }
        try (InputStream in = Files.newInputStream(file)) {
            if (!Arrays.equals(in.readNBytes(HEADER.length), HEADER)) {
                throw new Unusable("'" + file + "' is not a SQLite database, so not a Keel journal");
            }
        } catch (IOException e) {
            throw new Unusable("cannot read '" + file + "': " + e.getMessage(), e);
        }
    }

    private void checkKeelSchema(Connection c) throws SQLException {
        if (!tableExists(c, Schema.HISTORY_TABLE)) {
            throw new Unusable("'" + file + "' is a SQLite database but not a Keel journal (it has no "
                    + Schema.HISTORY_TABLE + " table)");
        }
    }

    private static boolean tableExists(Connection c, String table) throws SQLException {
        try (var s = c.prepareStatement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")) {
            s.setString(1, table);
            try (ResultSet r = s.executeQuery()) {
                return r.next();
            }
        }
    }

    private int schemaVersion(Connection c) throws SQLException {
        int version = 0;
        try (Statement s = c.createStatement();
                ResultSet r = s.executeQuery(
                        "SELECT version FROM " + Schema.HISTORY_TABLE + " WHERE success = 1 AND version IS NOT NULL")) {
            while (r.next()) {
                String v = r.getString(1).trim();
                try {
                    version = Math.max(version, Integer.parseInt(v.split("\\.")[0]));
                } catch (NumberFormatException e) {
                    throw new Unusable("'" + file + "' records a schema version Keel does not write ('" + v + "')");
                }
            }
        }
        if (version == 0) {
            throw new Unusable("'" + file + "' has an empty schema history: it is not a Keel journal");
        }
        return version;
    }

    private static long count(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet r = s.executeQuery(sql)) {
            r.next();
            return r.getLong(1);
        }
    }

    private static void sync(Path path) throws IOException {
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            // some file systems cannot sync a directory; the file itself is on disk
        }
    }

    /**
     * What a journal file holds.
     *
     * @param file the file
     * @param schemaVersion the schema version its history reached
     * @param events events in its log (those not yet pruned)
     * @param lanes its lanes
     * @param subscriptions subscriptions with cursors in it
     * @param deadLetters its dead letters
     * @param bytes the file's size
     */
    public record Contents(
            Path file, int schemaVersion, long events, int lanes, long subscriptions, long deadLetters, long bytes) {}

    /** The file is missing, not a SQLite database, not a Keel journal, or damaged; nothing was changed. */
    public static final class Unusable extends JournalException {
        private static final long serialVersionUID = 1L;

        Unusable(String message) {
            super(message);
        }

        Unusable(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
