package dev.keel.jdbc;

import dev.keel.spi.AuditTrail;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** The audit trail in {@code keel_audit}, listed newest first by {@code (at_ms, id)}. */
final class JdbcAuditTrail implements AuditTrail {
    private final Database db;

    JdbcAuditTrail(Database db) {
        this.db = db;
    }

    @Override
    public void append(AuditEntry e) {
        db.update(
                "record the audit entry " + e.id(),
                "INSERT INTO keel_audit (id, at_ms, actor, tenant, action, target, parameters, remote_address, status)"
                        + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                e.id(),
                e.at().toEpochMilli(),
                e.actor(),
                e.tenant(),
                e.action(),
                e.target(),
                e.parameters(),
                e.remoteAddress(),
                e.status());
    }

    @Override
    public AuditPage list(AuditQuery q) {
        StringBuilder sql =
                new StringBuilder("SELECT id, at_ms, actor, tenant, action, target, parameters, remote_address, status"
                        + " FROM keel_audit WHERE 1 = 1");
        List<Object> args = new ArrayList<>();
        if (q.tenant() != null) {
            sql.append(" AND tenant = ?");
            args.add(q.tenant());
        }
        if (q.action() != null) {
            sql.append(" AND action = ?");
            args.add(q.action());
        }
        if (q.since() != null) {
            sql.append(" AND at_ms >= ?");
            args.add(q.since().toEpochMilli());
        }
        if (q.until() != null) {
            sql.append(" AND at_ms < ?");
            args.add(q.until().toEpochMilli());
        }
        if (q.before() != null) {
            long at = q.before().at().toEpochMilli();
            sql.append(" AND (at_ms < ? OR (at_ms = ? AND id < ?))");
            args.add(at);
            args.add(at);
            args.add(q.before().id());
        }
        sql.append(" ORDER BY at_ms DESC, id DESC LIMIT ?");
        args.add(q.limit() + 1);
        return db.query(
                "list the audit trail",
                sql.toString(),
                r -> {
                    List<AuditEntry> out = new ArrayList<>();
                    while (r.next()) {
                        out.add(entry(r));
                    }
                    boolean more = out.size() > q.limit();
                    return new AuditPage(more ? out.subList(0, q.limit()) : out, more);
                },
                args.toArray());
    }

    @Override
    public long prune(Instant before) {
        return db.update("prune the audit trail", "DELETE FROM keel_audit WHERE at_ms < ?", before.toEpochMilli());
    }

    private static AuditEntry entry(ResultSet r) throws SQLException {
        return new AuditEntry(
                r.getString(1),
                Instant.ofEpochMilli(r.getLong(2)),
                r.getString(3),
                r.getString(4),
                r.getString(5),
                r.getString(6),
                r.getString(7),
                r.getString(8),
                r.getInt(9));
    }
}
