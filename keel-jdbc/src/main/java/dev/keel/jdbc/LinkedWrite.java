package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * A write to a table of another part of Keel (the event store's streams) that commits in the same transaction
 * as the appends it goes with, on the journal's writer thread: the record and the events it publishes are
 * never a dual write. In a group, each linked write is checked and written in turn before the group's appends,
 * so a later one sees what an earlier one wrote.
 */
interface LinkedWrite {
    /**
     * What the write locks (a stream): a group checks and writes its linked writes in the order of their keys
     * (keeping the group's order among equal keys), so that two instances' groups never wait on each other
     * in a cycle.
     */
    String key();

    /**
     * Reads what the write depends on, and returns the exception to fail this request with when it may not
     * go ahead (a version conflict, say), or null. It must write nothing: a refused request leaves the group
     * as if it had not been in it.
     */
    RuntimeException check(Connection c) throws SQLException;

    /**
     * Writes, after a check that passed. A SQL failure fails the group's transaction, which the writer then
     * writes again one request at a time when the failure is one request's (a constraint).
     */
    void write(Connection c) throws SQLException;
}
