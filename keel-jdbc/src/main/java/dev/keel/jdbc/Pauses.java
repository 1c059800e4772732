package dev.keel.jdbc;

import dev.keel.spi.PauseKey;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Pauses every instance honours, in {@code keel_pauses} under their storage keys. */
final class Pauses {
    private static final Logger log = LoggerFactory.getLogger(Pauses.class);

    private final Database db;

    Pauses(Database db) {
        this.db = db;
    }

    void pause(PauseKey key, Instant until) {
        if (until == null) {
            db.update("resume " + key.storageKey(), "DELETE FROM keel_pauses WHERE pause_key = ?", key.storageKey());
        } else {
            db.update(
                    "pause " + key.storageKey(),
                    "INSERT INTO keel_pauses (pause_key, until_at) VALUES (?, ?)"
                            + " ON CONFLICT (pause_key) DO UPDATE SET until_at = excluded.until_at",
                    key.storageKey(),
                    until.toEpochMilli());
        }
    }

    Map<PauseKey, Instant> live(Instant now) {
        return db.query(
                "read the pauses",
                "SELECT pause_key, until_at FROM keel_pauses WHERE until_at > ?",
                r -> {
                    Map<PauseKey, Instant> out = new HashMap<>();
                    while (r.next()) {
                        try {
                            out.put(PauseKey.parse(r.getString(1)), Instant.ofEpochMilli(r.getLong(2)));
                        } catch (IllegalArgumentException e) {
                            log.warn("ignoring a stored pause of an unknown kind: {}", e.getMessage());
                        }
                    }
                    return out;
                },
                now.toEpochMilli());
    }
}
