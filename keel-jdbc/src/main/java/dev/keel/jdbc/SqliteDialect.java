package dev.keel.jdbc;

import com.zaxxer.hikari.HikariConfig;
import dev.keel.spi.JournalException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

/**
 * SQLite: write-ahead log, {@code synchronous=FULL} (a commit is on disk before it returns), immediate
 * transactions (a writer takes the lock at BEGIN, so concurrent writers queue instead of failing with
 * SQLITE_BUSY) and a busy timeout. One process owns the file.
 */
final class SqliteDialect implements Dialect {
    private static final byte[] HEADER = "SQLite format 3\u0000".getBytes(StandardCharsets.US_ASCII);
    static final int BUSY_TIMEOUT_MS = 10_000;
    static final int WAL_AUTOCHECKPOINT_PAGES = 10_000;

    private final Path file;
    private final long maxBytes;
    /** Whether Keel's tables may live beside an application's ({@code JdbcJournal.Builder.shareDatabase()}). */
    private final boolean shared;

    SqliteDialect(Path file, long maxBytes, boolean shared) {
        this.file = file;
        this.maxBytes = maxBytes;
        this.shared = shared;
    }

    @Override
    public String name() {
        return "SQLite (" + file + ")";
    }

    @Override
    public String blobType() {
        return "BLOB";
    }

    @Override
    public String positionType() {
        return "INTEGER"; // exactly this spelling makes the column an alias of the 64-bit rowid
    }

    @Override
    public String identityKey() {
        return "INTEGER PRIMARY KEY AUTOINCREMENT"; // AUTOINCREMENT: an id is never used twice, even after a delete
    }

    @Override
    public boolean sharedByInstances() {
        return false;
    }

    @Override
    public boolean singleWriter() {
        return true;
    }

    @Override
    public String nowMillis() {
        return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
    }

    @Override
    public String skipLocked() {
        return "";
    }

    @Override
    public void configure(HikariConfig config) {
        refuseForeignFile();
        refuseForeignTables();
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
        } catch (IOException e) {
            throw new JournalException(
                    "cannot create the directory for the journal " + file + ": " + e.getMessage(), e);
        }
        SQLiteConfig sqlite = new SQLiteConfig();
        sqlite.setJournalMode(SQLiteConfig.JournalMode.WAL);
        sqlite.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
        sqlite.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
        sqlite.setBusyTimeout(BUSY_TIMEOUT_MS);
        sqlite.enforceForeignKeys(true);
        // Checkpoint the write-ahead log every ~40 MB instead of every 4 MB: fewer stalls in the writer.
        sqlite.setWalAutocheckpoint(WAL_AUTOCHECKPOINT_PAGES);
        if (maxBytes > 0) {
            // Caps the file at maxBytes (4 KiB pages); past it writes fail with SQLITE_FULL, as on a full disk.
            sqlite.setMaxPageCount((int) Math.min(Integer.MAX_VALUE, Math.max(1, maxBytes / 4096)));
        }
        SQLiteDataSource ds = new SQLiteDataSource(sqlite);
        ds.setUrl("jdbc:sqlite:" + file.toAbsolutePath());
        config.setDataSource(ds);
        config.setConnectionTestQuery("SELECT 1");
    }

    /**
     * Refuses, reading it read-only (opening it for writing would already switch it to WAL), a database that
     * holds tables but no Keel schema history: another application's file, unless Keel was told to share it.
     */
    private void refuseForeignTables() {
        if (shared || !Files.isRegularFile(file)) {
            return;
        }
        SQLiteConfig readOnly = new SQLiteConfig();
        readOnly.setReadOnly(true);
        try (java.sql.Connection c = readOnly.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
                java.sql.Statement s = c.createStatement();
                java.sql.ResultSet r = s.executeQuery(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
            java.util.List<String> tables = new java.util.ArrayList<>();
            while (r.next()) {
                tables.add(r.getString(1));
            }
            if (!tables.isEmpty() && !tables.contains("keel_schema_history")) {
                throw new JournalException("'" + file + "' holds tables that are not Keel's ("
                        + String.join(", ", tables) + "); Keel left them untouched. Give Keel its own file, or"
                        + " build the journal with shareDatabase() to keep Keel's tables (all named keel_*)"
                        + " beside them");
            }
        } catch (java.sql.SQLException e) {
            throw new JournalException(
                    "'" + file + "' cannot be read as a SQLite database (" + e.getMessage()
                            + "); Keel left it untouched. Point the journal at a new file or restore a backup",
                    e);
        }
    }

    /** Refuses, without opening it, a file that exists but is not a SQLite database. */
    private void refuseForeignFile() {
        if (!Files.isRegularFile(file)) {
            return;
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(HEADER.length);
            if (head.length == 0) {
                return;
            }
            if (head.length < HEADER.length || !java.util.Arrays.equals(head, HEADER)) {
                throw new JournalException("'" + file + "' is not a SQLite database; Keel left it untouched."
                        + " Point the journal at a new file (KEEL_JDBC_URL or --data-dir) or restore a backup");
            }
        } catch (IOException e) {
            throw new JournalException("cannot read the journal file " + file + ": " + e.getMessage(), e);
        }
    }
}
