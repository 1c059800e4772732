package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * A write to a table of another part of Keel (the event store's streams) that commits in the same transaction
 * as the appends it goes with, on the journal's writer thread: the record and the events it publishes are
 * never a dual write. A group's linked writes of one {@link Kind} are checked and written together, before
 * the group's appends, in the order of their keys.
 */
interface LinkedWrite {
    /**
     * What the write locks (a stream): a group's linked writes are taken in the order of their keys (keeping
     * the group's order among equal keys), so that two instances' groups never wait on each other in a cycle.
     */
    String key();

    /** What checks and writes this write, together with the group's others of its kind. */
    Kind kind();

    /** Checks and writes a group's linked writes of one kind at once: a few statements for many writes. */
    interface Kind {
        /**
         * Checks each write (in the order given, each seeing what those before it will write) and writes those
         * that may go ahead.
         *
         * @return per write, the exception to fail its request with (a version conflict, say), or null; a
         *     refused write leaves nothing written, so its request leaves the group as if it had not been in it
         * @throws SQLException fails the group's transaction, which the writer then writes again one request
         *     at a time when the failure is one request's (a constraint)
         */
        RuntimeException[] apply(Connection c, List<LinkedWrite> writes) throws SQLException;
    }
}
