package dev.keel.jdbc;

import dev.keel.Delivery;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;

/**
 * Transactional handlers: the handler's statements and a row in {@code keel_inbox} for (subscription, event)
 * commit in one transaction, so a redelivery finds the row and skips the handler.
 */
final class Inbox {
    /** How long the inbox remembers an applied event. */
    static final Duration RETENTION = Duration.ofDays(7);

    private final Database db;

    Inbox(Database db) {
        this.db = db;
    }

    /** Runs the handler in a transaction with the inbox row, unless the row is there already. */
    <T> void handle(Delivery<T> delivery, TransactionalHandler<T> handler) throws Exception {
        {
            db.ensureOpen();
            db.lockWrites();
            try (Connection c = db.pool.getConnection()) {
                c.setAutoCommit(false);
                try {
                    boolean fresh;
                    try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_inbox (subscription, event_id,"
                            + " processed_at) VALUES (?, ?, ?) ON CONFLICT (subscription, event_id) DO NOTHING")) {
                        s.setString(1, delivery.subscription());
                        s.setString(2, delivery.event().id());
                        s.setLong(3, db.clock.millis());
                        fresh = s.executeUpdate() == 1;
                    }
                    if (fresh) {
                        handler.handle(delivery, c);
                    }
                    c.commit();
                } catch (Exception e) {
                    Database.rollback(c, e);
                    throw e;
                }
            } finally {
                db.unlockWrites();
            }
        }
    }
}
