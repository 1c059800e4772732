package dev.keel.jdbc;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.spi.DeadLetterStore.ReprocessOrder;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Dead letters as queried, updated and deleted by operators, and the stored requests to reprocess them. */
final class DeadLetterTable {
    private static final String COLUMNS =
            "id, subscription, lane, seq, errors, reason, dead_lettered_at, replay_count, poison, envelope";

    private final Database db;

    DeadLetterTable(Database db) {
        this.db = db;
    }

    List<DeadLetter> list(DeadLetterQuery query) {
        db.ensureOpen();
        StringBuilder sql = new StringBuilder("SELECT " + COLUMNS + " FROM keel_dead_letters WHERE 1 = 1");
        List<Object> args = new ArrayList<>();
        if (query.subscription() != null) {
            sql.append(" AND subscription = ?");
            args.add(query.subscription());
        }
        if (query.key() != null) {
            sql.append(" AND partition_key = ?");
            args.add(query.key());
        }
        if (query.tenant() != null) {
            sql.append(" AND tenant = ?");
            args.add(query.tenant());
        }
        if (query.olderThan() != null) {
            sql.append(" AND dead_lettered_at < ?");
            args.add(query.olderThan().toEpochMilli());
        }
        if (query.newerThan() != null) {
            sql.append(" AND dead_lettered_at >= ?");
            args.add(query.newerThan().toEpochMilli());
        }
        // Ids grow with the time of dead-lettering (UUIDv7): id order is that time's order.
        boolean newest = query.newestFirst();
        String after = query.afterId() == null ? (newest ? null : "") : query.afterId();
        List<DeadLetter> out = new ArrayList<>();
        int page = Math.min(DeadLetterQuery.MAX_LIMIT, Math.max(query.limit() * 2, 64));
        try (Connection c = db.pool.getConnection()) {
            while (out.size() < query.limit()) {
                String bounded = after == null
                        ? sql + " ORDER BY id DESC LIMIT ?"
                        : sql + (newest ? " AND id < ? ORDER BY id DESC LIMIT ?" : " AND id > ? ORDER BY id LIMIT ?");
                int rows = 0;
                try (PreparedStatement s = c.prepareStatement(bounded)) {
                    int i = 1;
                    for (Object arg : args) {
                        s.setObject(i++, arg);
                    }
                    if (after != null) {
                        s.setString(i++, after);
                    }
                    s.setInt(i, page);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            rows++;
                            DeadLetter d = read(r);
                            after = d.id();
                            if (query.matches(d)) {
                                out.add(d);
                                if (out.size() == query.limit()) {
                                    break;
                                }
                            }
                        }
                    }
                }
                if (rows < page) {
                    break;
                }
            }
            return out;
        } catch (SQLException e) {
            throw db.failure("list dead letters", e);
        }
    }

    private DeadLetter read(ResultSet r) throws SQLException {
        return new DeadLetter(
                r.getString(1),
                r.getString(2),
                r.getInt(3),
                r.getLong(4),
                db.codec.read(r.getBytes(10)),
                db.codec.readErrors(r.getString(5)),
                r.getString(6),
                Instant.ofEpochMilli(r.getLong(7)),
                r.getInt(8),
                r.getInt(9) != 0);
    }

    Optional<DeadLetter> get(String id) {
        return db.query(
                "read dead letter " + id,
                "SELECT " + COLUMNS + " FROM keel_dead_letters WHERE id = ?",
                r -> r.next() ? Optional.of(read(r)) : Optional.empty(),
                id);
    }

    boolean update(DeadLetter d) {
        return db.update(
                        "update dead letter " + d.id(),
                        "UPDATE keel_dead_letters SET reason = ?, errors = ?, last_error_type = ?, replay_count = ?,"
                                + " poison = ? WHERE id = ?",
                        d.reason(),
                        db.codec.writeErrors(d.errors()),
                        d.lastErrorType(),
                        d.replayCount(),
                        d.poison() ? 1 : 0,
                        d.id())
                > 0;
    }

    boolean delete(String id) {
        return db.transaction("delete dead letter " + id, c -> {
            Database.execute(c, "DELETE FROM keel_reprocess WHERE dead_letter_id = ?", id);
            try (PreparedStatement s = c.prepareStatement("DELETE FROM keel_dead_letters WHERE id = ?")) {
                s.setString(1, id);
                return s.executeUpdate() > 0;
            }
        });
    }

    int purge(Instant before) {
        return db.transaction("purge dead letters", c -> {
            Database.execute(
                    c,
                    "DELETE FROM keel_reprocess WHERE dead_letter_id IN"
                            + " (SELECT id FROM keel_dead_letters WHERE dead_lettered_at < ?)",
                    before.toEpochMilli());
            try (PreparedStatement s = c.prepareStatement("DELETE FROM keel_dead_letters WHERE dead_lettered_at < ?")) {
                s.setLong(1, before.toEpochMilli());
                return s.executeUpdate();
            }
        });
    }

    long count(String subscription) {
        return subscription == null
                ? db.query("count dead letters", "SELECT COUNT(*) FROM keel_dead_letters", r -> {
                    r.next();
                    return r.getLong(1);
                })
                : db.query(
                        "count dead letters",
                        "SELECT COUNT(*) FROM keel_dead_letters WHERE subscription = ?",
                        r -> {
                            r.next();
                            return r.getLong(1);
                        },
                        subscription);
    }

    boolean requestReprocess(String id, Instant at) {
        return db.transaction("request the reprocessing of dead letter " + id, c -> {
            Database.execute(
                    c,
                    "INSERT INTO keel_reprocess (dead_letter_id, subscription, lane, requested_at)"
                            + " SELECT id, subscription, lane, ? FROM keel_dead_letters WHERE id = ?"
                            + " ON CONFLICT (dead_letter_id) DO NOTHING",
                    at.toEpochMilli(),
                    id);
            return Database.queryLong(c, "SELECT COUNT(*) FROM keel_dead_letters WHERE id = ?", id) > 0;
        });
    }

    List<ReprocessOrder> orders(int max) {
        return db.query(
                "read the reprocess requests",
                "SELECT dead_letter_id, subscription, lane, requested_at FROM keel_reprocess"
                        + " ORDER BY requested_at, dead_letter_id LIMIT ?",
                r -> {
                    List<ReprocessOrder> out = new ArrayList<>();
                    while (r.next()) {
                        out.add(new ReprocessOrder(
                                r.getString(1), r.getString(2), r.getInt(3), Instant.ofEpochMilli(r.getLong(4))));
                    }
                    return out;
                },
                max);
    }
}
