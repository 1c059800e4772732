package dev.keel.jdbc;

import dev.keel.spi.LaneLeases;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Lane leases in {@code keel_leases}, timed by the database's clock, each grant with a higher fencing token;
 * live instances in {@code keel_instances} decide the fair share.
 */
final class Leases implements LaneLeases {
    private final Database db;

    Leases(Database db) {
        this.db = db;
    }

    @Override
    public Held heartbeat(String instance, Duration ttl) {
        String now = db.dialect.nowMillis();
        long ttlMillis = ttl.toMillis();
        return db.transaction("renew the lane leases of " + instance, c -> {
            Database.execute(
                    c,
                    "INSERT INTO keel_instances (instance, expires_at) VALUES (?, " + now + " + ?)"
                            + " ON CONFLICT (instance) DO UPDATE SET expires_at = excluded.expires_at",
                    instance,
                    ttlMillis);
            Database.execute(c, "DELETE FROM keel_instances WHERE expires_at < " + now + " - 60000");
            long live = Database.queryLong(c, "SELECT COUNT(*) FROM keel_instances WHERE expires_at > " + now);
            Database.execute(
                    c,
                    "UPDATE keel_leases SET expires_at = " + now + " + ? WHERE owner = ? AND expires_at > " + now,
                    ttlMillis,
                    instance);
            Map<Integer, Long> held = new TreeMap<>();
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT lane, token FROM keel_leases WHERE owner = ? AND expires_at > " + now + " ORDER BY lane")) {
                s.setString(1, instance);
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        held.put(r.getInt(1), r.getLong(2));
                    }
                }
            }
            int fair = (int) Math.ceil(db.lanes / (double) Math.max(1, live));
            if (held.size() < fair) {
                List<Integer> free = new ArrayList<>();
                try (PreparedStatement s = c.prepareStatement("SELECT lane FROM keel_leases WHERE owner IS NULL"
                        + " OR expires_at <= " + now + " ORDER BY lane LIMIT ?" + db.dialect.skipLocked())) {
                    s.setInt(1, fair - held.size());
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            free.add(r.getInt(1));
                        }
                    }
                }
                for (int lane : free) {
                    Database.execute(
                            c,
                            "UPDATE keel_leases SET owner = ?, token = token + 1, expires_at = " + now
                                    + " + ? WHERE lane = ?",
                            instance,
                            ttlMillis,
                            lane);
                    held.put(lane, Database.queryLong(c, "SELECT token FROM keel_leases WHERE lane = ?", lane));
                }
            }
            return new Held(held, fair);
        });
    }

    @Override
    public void release(String instance, Collection<Integer> released) {
        for (int lane : released) {
            db.update(
                    "release lane " + lane,
                    "UPDATE keel_leases SET owner = NULL, expires_at = 0 WHERE owner = ? AND lane = ?",
                    instance,
                    lane);
        }
    }
}
