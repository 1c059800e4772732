package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies SQLite's write-ahead log into the database file in the background, a little at a time, so that the
 * journal's writer never has to: left to SQLite, the commit that crosses the log's size limit runs the whole
 * checkpoint, syncing tens of megabytes while every emit and command waits behind it (stalls of up to a second
 * under load). A passive checkpoint takes no write lock, so commits go on while it runs; SQLite's own
 * checkpoint at {@link SqliteDialect#WAL_AUTOCHECKPOINT_PAGES} stays as the fallback should this thread fall
 * behind.
 *
 * <p>Its one platform thread owns its connection; it only reads the pool's state through the connection.
 */
final class WalCheckpointer {
    private static final Logger log = LoggerFactory.getLogger(WalCheckpointer.class);
    static final Duration EVERY = Duration.ofMillis(200);

    private final Database db;
    private final Thread thread;
    private volatile boolean stopped;

    WalCheckpointer(Database db) {
        this.db = db;
        this.thread = Thread.ofPlatform().daemon().name("keel-wal-checkpoint").start(this::run);
    }

    private void run() {
        while (!stopped) {
            try {
                Thread.sleep(EVERY);
                checkpoint();
            } catch (InterruptedException e) {
                return;
            } catch (SQLException | RuntimeException e) {
                if (!stopped) {
                    log.debug(
                            "a background checkpoint of the journal failed (SQLite's own takes over): {}",
                            e.toString());
                }
            }
        }
    }

    private void checkpoint() throws SQLException {
        try (Connection c = db.pool.getConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("PRAGMA wal_checkpoint(PASSIVE)")) {
            r.next();
        }
    }

    void stop() {
        stopped = true;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
