package dev.keel.jdbc;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

/**
 * The SQL of the transactional outbox, table {@code keel_outbox}: rows inserted on the application's connection,
 * read in id order by the relay, claimed (deleted) in the journal writer's transaction with the log events they
 * become, or marked refused with a reason.
 */
final class OutboxTable {
    /** The longest refusal reason kept. */
    static final int MAX_REASON = 2000;

    private final Database db;

    /** The kind of the relay's claims: one object, so that a group's claims are checked together. */
    final LinkedWrite.Kind claims = LinkedWrite.Kind.of(LinkedWrite.OUTBOX_CLAIMS, this::claimAll);

    OutboxTable(Database db) {
        this.db = db;
    }

    /** A row waiting to be relayed. */
    record Row(long id, byte[] envelope, String traceparent) {}

    /** A row Keel refused, as stored. */
    record RefusedRow(long id, byte[] envelope, long writtenAt, long refusedAt, String reason) {}

    /** The outbox's counts and its oldest waiting row's write time (0 when none waits). */
    record Counts(long waiting, long refused, long oldestWaitingAt) {}

    /** Inserts encoded events on the caller's connection, in its transaction; commits nothing. */
    void insert(Connection c, List<byte[]> envelopes, List<String> traceparents, long now) throws SQLException {
        try (PreparedStatement s =
                c.prepareStatement("INSERT INTO keel_outbox (envelope, traceparent, written_at) VALUES (?, ?, ?)")) {
            for (int i = 0; i < envelopes.size(); i++) {
                s.setBytes(1, envelopes.get(i));
                if (traceparents.get(i) == null) {
                    s.setNull(2, Types.VARCHAR);
                } else {
                    s.setString(2, traceparents.get(i));
                }
                s.setLong(3, now);
                s.addBatch();
            }
            s.executeBatch();
        }
    }

    /** The first rows waiting up to id {@code upTo}, in id order; refused rows are skipped. */
    List<Row> waiting(int max, long upTo) {
        return db.query(
                "read the outbox",
                "SELECT id, envelope, traceparent FROM keel_outbox WHERE refused_at IS NULL AND id <= ?"
                        + " ORDER BY id LIMIT ?",
                r -> {
                    List<Row> rows = new ArrayList<>();
                    while (r.next()) {
                        rows.add(new Row(r.getLong(1), r.getBytes(2), r.getString(3)));
                    }
                    return rows;
                },
                upTo,
                max);
    }

    /** Marks a row refused, keeping it; false when it is gone or was refused already. */
    boolean refuse(long id, String reason) {
        // A reason may quote the refused value; U+0000 is what PostgreSQL's text columns cannot store.
        String printable = reason.replace("\u0000", "\\u0000");
        String kept = printable.length() > MAX_REASON ? printable.substring(0, MAX_REASON) : printable;
        return db.update(
                        "mark outbox row " + id + " refused",
                        "UPDATE keel_outbox SET refused_at = ?, reason = ? WHERE id = ? AND refused_at IS NULL",
                        db.clock.millis(),
                        kept,
                        id)
                == 1;
    }

    /** The highest id in the outbox, 0 when it is empty. */
    long lastId() {
        return db.query("read the outbox", "SELECT COALESCE(MAX(id), 0) FROM keel_outbox", r -> {
            r.next();
            return r.getLong(1);
        });
    }

    Counts counts() {
        return db.query(
                "count the outbox",
                "SELECT COUNT(*), COUNT(refused_at), MIN(CASE WHEN refused_at IS NULL THEN written_at END)"
                        + " FROM keel_outbox",
                r -> {
                    r.next();
                    return new Counts(r.getLong(1) - r.getLong(2), r.getLong(2), r.getLong(3));
                });
    }

    /** Refused rows, oldest first. */
    List<RefusedRow> refused(int max) {
        return db.query(
                "read the outbox's refused rows",
                "SELECT id, envelope, written_at, refused_at, reason FROM keel_outbox WHERE refused_at IS NOT NULL"
                        + " ORDER BY id LIMIT ?",
                r -> {
                    List<RefusedRow> rows = new ArrayList<>();
                    while (r.next()) {
                        rows.add(new RefusedRow(
                                r.getLong(1), r.getBytes(2), r.getLong(3), r.getLong(4), r.getString(5)));
                    }
                    return rows;
                },
                max);
    }

    /**
     * The relay's claim of rows, written in the transaction that appends their events: it deletes exactly those
     * rows, or is refused with {@link Taken} (and deletes nothing) when any of them is gone or refused already.
     */
    final class Claim implements LinkedWrite {
        final long[] ids;

        Claim(long[] ids) {
            this.ids = ids;
        }

        @Override
        public String key() {
            return "keel_outbox";
        }

        @Override
        public Kind kind() {
            return claims;
        }
    }

    /**
     * Checks and deletes each claim's rows in turn (a later claim sees what an earlier one deleted). On PostgreSQL
     * the rows are locked in id order first: another instance's relay claiming the same rows waits for this
     * transaction, then finds them gone.
     */
    private RuntimeException[] claimAll(Connection c, List<LinkedWrite> writes) throws SQLException {
        RuntimeException[] refused = new RuntimeException[writes.size()];
        String lock = db.dialect.sharedByInstances() ? " FOR UPDATE" : "";
        for (int w = 0; w < writes.size(); w++) {
            long[] ids = ((Claim) writes.get(w)).ids;
            String in = "(" + "?,".repeat(ids.length - 1) + "?)";
            int found = 0;
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT id FROM keel_outbox WHERE id IN " + in + " AND refused_at IS NULL ORDER BY id" + lock)) {
                for (int i = 0; i < ids.length; i++) {
                    s.setLong(i + 1, ids[i]);
                }
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        found++;
                    }
                }
            }
            if (found != ids.length) {
                refused[w] = new Taken(ids.length - found);
                continue;
            }
            try (PreparedStatement s = c.prepareStatement("DELETE FROM keel_outbox WHERE id IN " + in)) {
                for (int i = 0; i < ids.length; i++) {
                    s.setLong(i + 1, ids[i]);
                }
                s.executeUpdate();
            }
        }
        return refused;
    }

    /** Rows of a claim were moved or refused by someone else meanwhile: nothing of the claim was written. */
    static final class Taken extends dev.keel.KeelException {
        private static final long serialVersionUID = 1L;

        Taken(int missing) {
            super(missing + " outbox rows were relayed or refused by another relay meanwhile; nothing was appended");
        }
    }
}
