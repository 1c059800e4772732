package dev.keel.jdbc;

import dev.keel.spi.Coordination.StoredSubscription;
import java.util.ArrayList;
import java.util.List;

/** Subscription definitions every instance runs, in {@code keel_subscriptions}, with revisions from a counter. */
final class StoredSubscriptions {
    private final Database db;

    StoredSubscriptions(Database db) {
        this.db = db;
    }

    long save(String key, String document) {
        return db.transaction("save subscription " + key, c -> {
            long revision = Database.queryLong(
                    c, "UPDATE keel_counters SET value = value + 1 WHERE name = 'subscriptions' RETURNING value");
            Database.execute(
                    c,
                    "INSERT INTO keel_subscriptions (sub_key, document, revision) VALUES (?, ?, ?)"
                            + " ON CONFLICT (sub_key) DO UPDATE SET document = excluded.document,"
                            + " revision = excluded.revision",
                    key,
                    document,
                    revision);
            return revision;
        });
    }

    long delete(String key) {
        return db.transaction("delete subscription " + key, c -> {
            try (var s = c.prepareStatement("DELETE FROM keel_subscriptions WHERE sub_key = ?")) {
                s.setString(1, key);
                if (s.executeUpdate() == 0) {
                    return 0L;
                }
            }
            return Database.queryLong(
                    c, "UPDATE keel_counters SET value = value + 1 WHERE name = 'subscriptions' RETURNING value");
        });
    }

    long revision() {
        return db.query(
                "read the subscriptions' revision",
                "SELECT value FROM keel_counters WHERE name = 'subscriptions'",
                r -> r.next() ? r.getLong(1) : 0L);
    }

    List<StoredSubscription> list() {
        return db.query(
                "read the stored subscriptions",
                "SELECT sub_key, document, revision FROM keel_subscriptions ORDER BY sub_key",
                r -> {
                    List<StoredSubscription> out = new ArrayList<>();
                    while (r.next()) {
                        out.add(new StoredSubscription(r.getString(1), r.getString(2), r.getLong(3)));
                    }
                    return out;
                });
    }
}
