package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;

/**
 * The prepared statements of one connection, each prepared once: the writer keeps them for as long as it keeps
 * its connection (a statement compiled per transaction costs as much as a small insert), other callers for one
 * transaction. Closing closes them all.
 */
final class Statements implements AutoCloseable {
    private final Connection connection;
    private final Map<String, PreparedStatement> prepared = new HashMap<>();

    Statements(Connection connection) {
        this.connection = connection;
    }

    Connection connection() {
        return connection;
    }

    /** The statement for this SQL, prepared on first use; its parameters are whatever was set last. */
    PreparedStatement prepare(String sql) throws SQLException {
        PreparedStatement s = prepared.get(sql);
        if (s == null) {
            s = connection.prepareStatement(sql);
            prepared.put(sql, s);
        }
        return s;
    }

    @Override
    public void close() {
        for (PreparedStatement s : prepared.values()) {
            try {
                s.close();
            } catch (SQLException ignored) {
                // closing what is done with; the connection reports real failures
            }
        }
        prepared.clear();
    }
}
