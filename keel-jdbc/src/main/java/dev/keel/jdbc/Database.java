package dev.keel.jdbc;

import com.zaxxer.hikari.HikariDataSource;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.JournalException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What every part of the JDBC journal shares: the connection pool, the dialect, the codec and clock, the
 * lane count, and the helpers that run a statement and turn a failure into a {@link JournalException} that
 * says what to do. On a database with one writer at a time (SQLite) every write takes {@link #lockWrites()}:
 * writers queue in the process, in order, instead of meeting a locked database.
 */
final class Database {
    private static final int SEQ_BITS = 53;
    /** The highest sequence a lane may reach. */
    static final long MAX_SEQ = (1L << SEQ_BITS) - 1;
    /** Positions are lane × 2^53 + seq in a signed 64-bit integer: 1,024 lanes fit. */
    static final int MAX_LANES = 1 << (63 - SEQ_BITS);

    /**
     * Strings in the order of their code points: the order of their UTF-8 bytes, in which SQLite compares text
     * and PostgreSQL does under {@code COLLATE "C"} (String's own order differs past the basic plane). Keys that
     * several instances lock are locked in this order.
     */
    static final java.util.Comparator<String> CODE_POINT_ORDER = (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) {
                return Integer.compare(x, y);
            }
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    };

    final HikariDataSource pool;
    final Dialect dialect;
    final EnvelopeCodec codec;
    final Clock clock;
    final int lanes;
    private final ReentrantLock writes = new ReentrantLock(true);
    private volatile boolean closed;

    Database(HikariDataSource pool, Dialect dialect, EnvelopeCodec codec, Clock clock, int lanes) {
        this.pool = pool;
        this.dialect = dialect;
        this.codec = codec;
        this.clock = clock;
        this.lanes = lanes;
    }

    /** The log's key: lanes are at most 1,024 and a lane's sequence stays below 2^53 (see V5__clustered_log). */
    static long position(int lane, long seq) {
        return ((long) lane << SEQ_BITS) + seq;
    }

    void lockWrites() {
        if (dialect.singleWriter()) {
            writes.lock();
        }
    }

    void unlockWrites() {
        if (dialect.singleWriter()) {
            writes.unlock();
        }
    }

    void close() {
        closed = true;
        pool.close();
    }

    boolean isClosed() {
        return closed;
    }

    void ensureOpen() {
        if (closed) {
            throw new JournalException("the journal " + dialect.name() + " is closed");
        }
    }

    void lane(int lane) {
        if (lane < 0 || lane >= lanes) {
            throw new JournalException("lane " + lane + " does not exist; the journal has " + lanes + " lanes");
        }
    }

    /** Runs one statement in its own transaction; returns the rows it changed. */
    int update(String what, String sql, Object... args) {
        ensureOpen();
        lockWrites();
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            return s.executeUpdate();
        } catch (SQLException e) {
            throw failure(what, e);
        } finally {
            unlockWrites();
        }
    }

    /** Runs work in one transaction, rolled back when it throws. */
    <T> T transaction(String what, SqlWork<T> work) {
        ensureOpen();
        lockWrites();
        try (Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                rollback(c, e);
                throw e;
            }
        } catch (SQLException e) {
            throw failure(what, e);
        } finally {
            unlockWrites();
        }
    }

    /** Runs read-only work on a connection of its own, without the write lock. */
    <T> T read(String what, SqlWork<T> work) {
        ensureOpen();
        try (Connection c = pool.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    /** Work on a connection. */
    @FunctionalInterface
    interface SqlWork<T> {
        T run(Connection c) throws SQLException;
    }

    /** Runs a query with its own connection and reads its rows. */
    <T> T query(String what, String sql, RowsReader<T> reader, Object... args) {
        ensureOpen();
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            try (ResultSet r = s.executeQuery()) {
                return reader.read(r);
            }
        } catch (SQLException e) {
            throw failure(what, e);
        }
    }

    /** Reads a result's rows. */
    @FunctionalInterface
    interface RowsReader<T> {
        T read(ResultSet r) throws SQLException;
    }

    static void bind(PreparedStatement s, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            s.setObject(i + 1, args[i]);
        }
    }

    static void execute(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            s.executeUpdate();
        }
    }

    static long queryLong(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            bind(s, args);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    /** Rolls back, keeping the original failure: a database may already have rolled back on its own. */
    static void rollback(Connection c, Throwable cause) {
        try {
            c.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    JournalException failure(String what, SQLException e) {
        return failure(dialect, what, e);
    }

    static JournalException failure(Dialect dialect, String what, SQLException e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        String hint =
                message.contains("SQLITE_FULL") || message.contains("disk is full") || "53100".equals(e.getSQLState())
                        ? " The disk is full: free space and Keel resumes; nothing was half-written"
                        : e.getSQLState() != null && e.getSQLState().startsWith("08")
                                ? " The connection to the database was lost; if it was lost while committing, what"
                                        + " was written may have been stored: emit again with the same idempotency"
                                        + " key to be safe"
                                : "";
        return new JournalException("could not " + what + " in " + dialect.name() + ": " + message + "." + hint, e);
    }

    static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }
}
