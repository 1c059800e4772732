package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.SQLException;

/** Applies one event to a read model's table, in the transaction that also moves the model's checkpoint. */
@FunctionalInterface
public interface ProjectionHandler {
    /**
     * Writes the event's effect on {@code table} (the generation being written) through {@code connection}. Do
     * not commit, roll back or close the connection; throw to fail the delivery (it is retried, then
     * dead-lettered) with nothing of it written.
     */
    void apply(Connection connection, String table, ProjectedEvent event) throws SQLException;
}
