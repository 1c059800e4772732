package dev.keel.jdbc;

import dev.keel.DeadLetter;
import dev.keel.spi.Commit;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Delivery outcomes: cursors with their outcome counts, the pending set, and the dead letters a commit adds
 * or takes back (with their reprocess requests). A commit with a fence is checked against the lane's lease
 * first, under a row lock, so a stale owner writes nothing.
 */
final class Outcomes {
    private final Database db;

    Outcomes(Database db) {
        this.db = db;
    }

    /** Commits in a transaction of its own (a database with several writers). */
    void commit(Commit commit) {
        db.transaction("commit delivery outcomes of '" + commit.subscription() + "' on lane " + commit.lane(), c -> {
            try (Statements st = new Statements(c)) {
                apply(st, commit);
            }
            return null;
        });
    }

    /** Applies a commit inside the caller's transaction. */
    void apply(Statements st, Commit commit) throws SQLException {
        if (commit.isEmpty()) {
            return;
        }
        String sub = commit.subscription();
        int lane = commit.lane();
        if (commit.fence() != Commit.NO_FENCE) {
            PreparedStatement s = st.prepare(
                    "SELECT token FROM keel_leases WHERE lane = ?" + (db.dialect.singleWriter() ? "" : " FOR UPDATE"));
            s.setInt(1, lane);
            try (ResultSet r = s.executeQuery()) {
                long current = r.next() ? r.getLong(1) : -1;
                if (current != commit.fence()) {
                    throw new LeaseLostException(lane, commit.fence(), current);
                }
            }
        }
        Tally t = commit.tally();
        if (commit.cursor() != Commit.UNCHANGED) {
            PreparedStatement s = st.prepare("INSERT INTO keel_cursors"
                    + " (subscription, lane, position, delivered, failed, retried, dead_lettered)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, lane) DO UPDATE SET"
                    + " position = excluded.position, delivered = keel_cursors.delivered + excluded.delivered,"
                    + " failed = keel_cursors.failed + excluded.failed,"
                    + " retried = keel_cursors.retried + excluded.retried,"
                    + " dead_lettered = keel_cursors.dead_lettered + excluded.dead_lettered");
            s.setString(1, sub);
            s.setInt(2, lane);
            s.setLong(3, commit.cursor());
            s.setLong(4, t.delivered());
            s.setLong(5, t.failedAttempts());
            s.setLong(6, t.retriesScheduled());
            s.setLong(7, t.deadLettered());
            s.executeUpdate();
        } else if (!t.isZero()) {
            PreparedStatement s = st.prepare("UPDATE keel_cursors SET delivered = delivered + ?, failed = failed + ?,"
                    + " retried = retried + ?, dead_lettered = dead_lettered + ? WHERE subscription = ? AND lane = ?");
            s.setLong(1, t.delivered());
            s.setLong(2, t.failedAttempts());
            s.setLong(3, t.retriesScheduled());
            s.setLong(4, t.deadLettered());
            s.setString(5, sub);
            s.setInt(6, lane);
            s.executeUpdate();
        }
        if (!commit.removals().isEmpty()) {
            PreparedStatement s =
                    st.prepare("DELETE FROM keel_pending WHERE subscription = ? AND lane = ? AND seq = ?");
            for (Long seq : commit.removals()) {
                s.setString(1, sub);
                s.setInt(2, lane);
                s.setLong(3, seq);
                s.addBatch();
            }
            s.executeBatch();
        }
        if (!commit.upserts().isEmpty()) {
            PreparedStatement s = st.prepare("INSERT INTO keel_pending"
                    + " (subscription, lane, seq, scope, parked, attempt, due_at, errors, replay_count, envelope)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, lane, seq) DO UPDATE SET"
                    + " scope = excluded.scope, parked = excluded.parked, attempt = excluded.attempt,"
                    + " due_at = excluded.due_at, errors = excluded.errors, replay_count = excluded.replay_count,"
                    + " envelope = excluded.envelope");
            for (Pending p : commit.upserts()) {
                s.setString(1, sub);
                s.setInt(2, lane);
                s.setLong(3, p.sequence());
                s.setString(4, p.scope());
                s.setInt(5, p.parked() ? 1 : 0);
                s.setInt(6, p.attempt());
                if (p.dueAt() == null) {
                    s.setNull(7, Types.BIGINT);
                } else {
                    s.setLong(7, p.dueAt().toEpochMilli());
                }
                s.setString(8, db.codec.writeErrors(p.errors()));
                s.setInt(9, p.replayCount());
                s.setBytes(10, db.codec.write(p.event()));
                s.addBatch();
            }
            s.executeBatch();
        }
        if (!commit.removedDeadLetters().isEmpty()) {
            PreparedStatement s = st.prepare("DELETE FROM keel_dead_letters WHERE id = ?");
            PreparedStatement r = st.prepare("DELETE FROM keel_reprocess WHERE dead_letter_id = ?");
            for (String id : commit.removedDeadLetters()) {
                s.setString(1, id);
                s.addBatch();
                r.setString(1, id);
                r.addBatch();
            }
            s.executeBatch();
            r.executeBatch();
        }
        if (!commit.deadLetters().isEmpty()) {
            PreparedStatement s = st.prepare("INSERT INTO keel_dead_letters (id, subscription, lane,"
                    + " seq, type, partition_key, tenant, last_error_type, reason, errors, dead_lettered_at,"
                    + " replay_count, poison, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
            for (DeadLetter d : commit.deadLetters()) {
                s.setString(1, d.id());
                s.setString(2, d.subscription());
                s.setInt(3, d.lane());
                s.setLong(4, d.sequence());
                s.setString(5, d.event().type());
                s.setString(6, d.event().partitionKey());
                s.setString(7, d.event().tenant());
                s.setString(8, d.lastErrorType());
                s.setString(9, d.reason());
                s.setString(10, db.codec.writeErrors(d.errors()));
                s.setLong(11, d.deadLetteredAt().toEpochMilli());
                s.setInt(12, d.replayCount());
                s.setInt(13, d.poison() ? 1 : 0);
                s.setBytes(14, db.codec.write(d.event()));
                s.addBatch();
            }
            s.executeBatch();
        }
    }

    OptionalLong cursor(String subscription, int lane) {
        return db.query(
                "read the cursor of '" + subscription + "' on lane " + lane,
                "SELECT position FROM keel_cursors WHERE subscription = ? AND lane = ?",
                r -> r.next() ? OptionalLong.of(r.getLong(1)) : OptionalLong.empty(),
                subscription,
                lane);
    }

    /** Inserts the cursor unless one exists, and reads what is stored. */
    long openCursor(String subscription, int lane, long startAt) {
        db.lane(lane);
        return db.transaction("open the cursor of '" + subscription + "' on lane " + lane, c -> {
            Database.execute(
                    c,
                    "INSERT INTO keel_cursors (subscription, lane, position) VALUES (?, ?, ?)"
                            + " ON CONFLICT (subscription, lane) DO NOTHING",
                    subscription,
                    lane,
                    startAt);
            return Database.queryLong(
                    c, "SELECT position FROM keel_cursors WHERE subscription = ? AND lane = ?", subscription, lane);
        });
    }

    Tally tally(String subscription) {
        return db.query(
                "read the outcome counts of '" + subscription + "'",
                "SELECT COALESCE(SUM(delivered), 0), COALESCE(SUM(failed), 0), COALESCE(SUM(retried), 0),"
                        + " COALESCE(SUM(dead_lettered), 0) FROM keel_cursors WHERE subscription = ?",
                r -> {
                    r.next();
                    return new Tally(r.getLong(1), r.getLong(2), r.getLong(3), r.getLong(4));
                },
                subscription);
    }

    List<Pending> pending(String subscription, int lane) {
        return db.query(
                "read the pending deliveries of '" + subscription + "' on lane " + lane,
                "SELECT seq, scope, parked, attempt, due_at, errors, replay_count, envelope FROM keel_pending"
                        + " WHERE subscription = ? AND lane = ? ORDER BY seq",
                r -> {
                    List<Pending> out = new ArrayList<>();
                    while (r.next()) {
                        long due = r.getLong(5);
                        Instant dueAt = r.wasNull() ? null : Instant.ofEpochMilli(due);
                        out.add(new Pending(
                                subscription,
                                lane,
                                r.getLong(1),
                                r.getString(2),
                                r.getInt(3) != 0,
                                r.getInt(4),
                                dueAt,
                                db.codec.readErrors(r.getString(6)),
                                r.getInt(7),
                                db.codec.read(r.getBytes(8))));
                    }
                    return out;
                },
                subscription,
                lane);
    }
}
