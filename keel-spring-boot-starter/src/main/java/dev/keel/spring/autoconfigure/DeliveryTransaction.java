package dev.keel.spring.autoconfigure;

import dev.keel.Delivery;
import dev.keel.Handler;
import dev.keel.jdbc.JdbcJournal;
import java.sql.Connection;
import java.util.List;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.jdbc.datasource.ConnectionHolder;
import org.springframework.transaction.UnexpectedRollbackException;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.transaction.support.TransactionSynchronizationUtils;

/**
 * Runs a {@code @Transactional} listener inside Keel's delivery transaction ({@link JdbcJournal#transactional}), the
 * way Spring's JDBC transaction manager runs a transaction of its own:
 *
 * <ul>
 *   <li>Keel's delivery connection is bound as the transaction of the application's DataSource, so the method's
 *       {@code @Transactional} joins it and JdbcClient, JdbcTemplate and {@code KeelEvents} use its connection;
 *   <li>synchronization is Keel's, not the method's: {@code beforeCommit} and {@code beforeCompletion} run before
 *       Keel commits, {@code afterCommit} and {@code afterCompletion} after Keel's commit (or rollback) — so an
 *       after-commit side effect never runs for writes that then roll back;
 *   <li>a transaction the method marked rollback-only is rolled back, and the attempt fails.
 * </ul>
 *
 * <p>Everything runs on the delivery's own thread; the bindings are undone before the handler returns.
 */
final class DeliveryTransaction {
    private static final Logger log = LoggerFactory.getLogger(DeliveryTransaction.class);

    /** Bound (as a transaction resource) while a joined listener runs: {@link KeelOutbox} checks it. */
    static final Object RUNNING = new Object();

    private DeliveryTransaction() {}

    /** What the wrapped listener does with a delivery. */
    @FunctionalInterface
    interface Listener<T> {
        void handle(Delivery<T> delivery) throws Exception;
    }

    static <T> Handler<T> wrap(JdbcJournal journal, DataSource dataSource, Class<T> type, Listener<T> listener) {
        Handler<T> inTransaction = journal.transactional(type, (delivery, connection) -> {
            DeliveryConnection holder = new DeliveryConnection(connection);
            TransactionSynchronizationManager.bindResource(dataSource, holder);
            try {
                listener.handle(delivery);
                if (holder.isRollbackOnly()) {
                    throw new UnexpectedRollbackException("the listener's transaction was marked rollback-only, so"
                            + " Keel rolled back the delivery; it is attempted again as its retry policy says");
                }
                TransactionSynchronizationUtils.triggerBeforeCommit(false);
            } finally {
                TransactionSynchronizationUtils.triggerBeforeCompletion();
                TransactionSynchronizationManager.unbindResource(dataSource);
            }
        });
        return delivery -> {
            TransactionSynchronizationManager.initSynchronization();
            TransactionSynchronizationManager.setActualTransactionActive(true);
            TransactionSynchronizationManager.bindResource(RUNNING, Boolean.TRUE);
            boolean committed = false;
            try {
                inTransaction.handle(delivery);
                committed = true;
            } finally {
                List<TransactionSynchronization> synchronizations =
                        TransactionSynchronizationManager.getSynchronizations();
                TransactionSynchronizationManager.clearSynchronization();
                TransactionSynchronizationManager.setActualTransactionActive(false);
                TransactionSynchronizationManager.unbindResource(RUNNING);
                if (committed) {
                    afterCommit(synchronizations);
                }
                TransactionSynchronizationUtils.invokeAfterCompletion(
                        synchronizations,
                        committed
                                ? TransactionSynchronization.STATUS_COMMITTED
                                : TransactionSynchronization.STATUS_ROLLED_BACK);
            }
        };
    }

    /** The delivery is committed: a callback that throws is logged, and the others still run. */
    private static void afterCommit(List<TransactionSynchronization> synchronizations) {
        for (TransactionSynchronization s : synchronizations) {
            try {
                s.afterCommit();
            } catch (RuntimeException e) {
                log.error("an after-commit callback failed after Keel committed a delivery: {}", s, e);
            }
        }
    }

    /**
     * Keel's delivery connection as the application DataSource's transaction: Spring's transaction manager sees a
     * transaction under way and joins it. Keel commits it (with the record that the event was handled) or rolls
     * it back.
     */
    static final class DeliveryConnection extends ConnectionHolder {
        DeliveryConnection(Connection connection) {
            super(connection);
            setTransactionActive(true);
        }
    }
}
