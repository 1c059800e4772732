package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * A write to a table of another part of Keel (the event store's streams, the outbox's rows) that commits in the
 * same transaction as the appends it goes with, on the journal's writer thread: the record and the events it
 * publishes are never a dual write.
 *
 * <p>Lock order. A group's linked writes are applied kind by kind in the fixed order of their kinds' {@link
 * Kind#rank() ranks} (the same in every instance), and within a kind in the order of their keys (keeping the
 * group's order among equal keys); each kind's writes are checked and written together, before the group's
 * appends. So every transaction takes the rows it locks in one global order, (rank, key), and two instances'
 * groups never wait on each other in a cycle. (Ordering by key first and grouping by kind in order of first
 * appearance would not: a group [stream "a", outbox, stream "z"] would lock a, z, then outbox rows, another
 * group [outbox, stream "z"] outbox rows, then z.)
 */
interface LinkedWrite {
    /** The rank of the event store's stream appends: applied first. */
    int STREAMS = 10;
    /** The rank of the outbox relay's claims: applied after streams. */
    int OUTBOX_CLAIMS = 20;

    /** What the write locks (a stream) within its kind: a kind's writes are taken in the order of their keys. */
    String key();

    /** What checks and writes this write, together with the group's others of its kind. */
    Kind kind();

    /** Checks and writes a group's linked writes of one kind at once: a few statements for many writes. */
    interface Kind {
        /**
         * Where this kind's writes come in a group, lowest first: fixed per kind and distinct between kinds that
         * lock different rows ({@link #STREAMS}, {@link #OUTBOX_CLAIMS}), so that every instance takes locks in
         * one order.
         */
        int rank();

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

        /** A kind of the rank given that applies writes with {@code apply}. */
        static Kind of(int rank, Applier apply) {
            return new Kind() {
                @Override
                public int rank() {
                    return rank;
                }

                @Override
                public RuntimeException[] apply(Connection c, List<LinkedWrite> writes) throws SQLException {
                    return apply.apply(c, writes);
                }
            };
        }
    }

    /** What {@link Kind#apply} does, as a lambda. */
    @FunctionalInterface
    interface Applier {
        RuntimeException[] apply(Connection c, List<LinkedWrite> writes) throws SQLException;
    }
}
