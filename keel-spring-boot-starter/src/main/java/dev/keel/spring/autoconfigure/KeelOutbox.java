package dev.keel.spring.autoconfigure;

import dev.keel.Event;
import dev.keel.jdbc.JdbcOutbox;
import java.sql.Connection;
import java.util.List;
import javax.sql.DataSource;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.jdbc.datasource.TransactionAwareDataSourceProxy;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * The transactional outbox as the application sees it: the DataSource whose transactions events join, and
 * Keel's outbox in that database. {@link #none()} when Keel has a database of its own (or none).
 */
public final class KeelOutbox implements AutoCloseable {
    private static final KeelOutbox NONE = new KeelOutbox(null, null);

    private final DataSource dataSource;
    /** What Spring's transaction manager binds the transaction's connection under (the proxy's target). */
    private final DataSource transactionKey;

    private final JdbcOutbox outbox;

    KeelOutbox(DataSource dataSource, JdbcOutbox outbox) {
        this.dataSource = dataSource;
        this.transactionKey =
                dataSource instanceof TransactionAwareDataSourceProxy proxy ? proxy.getTargetDataSource() : dataSource;
        this.outbox = outbox;
    }

    /** No outbox: Keel does not share the application's database. */
    public static KeelOutbox none() {
        return NONE;
    }

    /** Whether Keel shares the application's database, so that emits can join its transactions. */
    public boolean present() {
        return outbox != null;
    }

    /** The application's DataSource, when present. */
    public DataSource dataSource() {
        return dataSource;
    }

    /**
     * The DataSource a Spring transaction on the shared database is bound under: the application's DataSource, or
     * the target of a {@link TransactionAwareDataSourceProxy}, as {@code DataSourceTransactionManager} binds it.
     */
    public DataSource transactionKey() {
        return transactionKey;
    }

    /** Keel's outbox, when present. */
    public JdbcOutbox outbox() {
        return outbox;
    }

    /**
     * Whether the calling thread is in a Spring transaction on the shared DataSource, holding its connection:
     * then {@link #write} commits with that transaction.
     */
    public boolean joinable() {
        return outbox != null
                && TransactionSynchronizationManager.isActualTransactionActive()
                && TransactionSynchronizationManager.hasResource(transactionKey);
    }

    /**
     * Refuses an emit from inside a {@code @Transactional} listener that runs in Keel's delivery transaction but is
     * not on that transaction's connection now (a nested {@code REQUIRES_NEW} or {@code NOT_SUPPORTED} call): its
     * events would not commit with the delivery, and on SQLite it would wait for the write lock the delivery holds.
     *
     * @throws IllegalStateException in that case
     */
    public void checkDeliveryTransaction() {
        if (TransactionSynchronizationManager.hasResource(DeliveryTransaction.RUNNING)
                && !(TransactionSynchronizationManager.getResource(transactionKey)
                        instanceof DeliveryTransaction.DeliveryConnection)) {
            throw new IllegalStateException("this emit runs inside a @Transactional @KeelListener but outside its"
                    + " delivery transaction (a REQUIRES_NEW or NOT_SUPPORTED call): emit in the listener's own"
                    + " transaction, so the events commit with the delivery");
        }
    }

    /**
     * Writes the events on the transaction's connection, and has the relay woken once it commits.
     *
     * @throws IllegalStateException when {@link #joinable()} is false
     */
    public void write(List<? extends Event<?>> events) {
        if (!joinable()) {
            throw new IllegalStateException("no Spring transaction on the application's DataSource is active");
        }
        Connection c = DataSourceUtils.getConnection(transactionKey);
        try {
            outbox.write(c, events);
        } finally {
            DataSourceUtils.releaseConnection(c, transactionKey);
        }
        if (TransactionSynchronizationManager.isSynchronizationActive()) {
            TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
                @Override
                public void afterCommit() {
                    outbox.wake();
                }
            });
        }
    }

    void start() {
        if (outbox != null) {
            outbox.start();
        }
    }

    /** Relays what is waiting, then stops the relay. */
    void stop() {
        if (outbox != null) {
            try {
                outbox.relayNow();
            } finally {
                outbox.close();
            }
        }
    }

    @Override
    public void close() {
        if (outbox != null) {
            outbox.close();
        }
    }
}
