package dev.keel.jdbc;

import dev.keel.Delivery;
import java.sql.Connection;

/**
 * A handler whose database work commits together with the record that it was done. See
 * {@link JdbcJournal#transactional(Class, TransactionalHandler)}.
 *
 * @param <T> the payload type
 */
@FunctionalInterface
public interface TransactionalHandler<T> {
    /**
     * Does the delivery's database work on {@code connection}, inside a transaction Keel commits after this
     * returns (and rolls back if it throws). Do not commit, roll back or close the connection.
     */
    void handle(Delivery<T> delivery, Connection connection) throws Exception;
}
