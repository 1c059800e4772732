package dev.keel.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Delivery;
import dev.keel.Keel;
import dev.keel.spring.actuate.KeelActuatorAutoConfiguration;
import dev.keel.spring.actuate.KeelHealthIndicator;
import dev.keel.spring.autoconfigure.KeelAutoConfiguration;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.JdbcTemplateAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.transaction.autoconfigure.TransactionAutoConfiguration;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.interceptor.TransactionAspectSupport;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * Keel sharing the application's database: emits in a Spring transaction commit or roll back with it (the outbox),
 * and a {@code @Transactional} listener's writes commit with Keel's record of the delivery. Each engine's test gives
 * the database.
 */
abstract class OutboxTransactionContract {
    /** The application's spring.datasource properties, for a new, empty database. */
    abstract String[] dataSource() throws Exception;

    /** Creates the application's tables, as its schema scripts would. */
    abstract void createTables(String[] dataSource) throws Exception;

    record Order(String id, int amount) {}

    public static class Payments {
        private final List<String> seen = new CopyOnWriteArrayList<>();
        private final AtomicInteger attempts = new AtomicInteger();
        private final JdbcTemplate jdbc;

        public Payments(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        /** Writes the payment, then fails its first attempt: the write must roll back with it. */
        @Transactional
        @KeelListener(subscription = "payments", types = "order.placed")
        public void pay(Order order, Delivery<Order> delivery) {
            attempts.incrementAndGet();
            jdbc.update("INSERT INTO payments (order_id, amount) VALUES (?, ?)", order.id(), order.amount());
            if (delivery.attempt() == 1 && order.amount() == 13) {
                throw new IllegalStateException("payment provider timed out");
            }
            seen.add(order.id());
        }

        /** The orders paid, in order (the bean is a transactional proxy: read through its methods). */
        public List<String> seen() {
            return seen;
        }

        public int attempts() {
            return attempts.get();
        }
    }

    /**
     * A listener that marks its first attempt rollback-only without throwing, and checks from an after-commit
     * callback that Keel's commit (its inbox row) is visible by then.
     */
    public static class Audits {
        private final List<String> seenAfterCommit = new CopyOnWriteArrayList<>();
        private final AtomicInteger attempts = new AtomicInteger();
        private final JdbcTemplate jdbc;

        public Audits(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Transactional
        @KeelListener(subscription = "audits", types = "audit.*")
        public void audit(String entry, Delivery<String> delivery) {
            attempts.incrementAndGet();
            jdbc.update("INSERT INTO payments (order_id, amount) VALUES (?, ?)", entry, delivery.attempt());
            if (delivery.attempt() == 1) {
                // An inner step failed and was caught: the transaction must not commit.
                TransactionAspectSupport.currentTransactionStatus().setRollbackOnly();
                return;
            }
            String eventId = delivery.event().id();
            TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
                @Override
                public void afterCommit() {
                    Integer handled = jdbc.queryForObject(
                            "SELECT COUNT(*) FROM keel_inbox WHERE subscription = 'audits' AND event_id = ?",
                            Integer.class,
                            eventId);
                    if (handled == 1) {
                        seenAfterCommit.add(entry);
                    }
                }
            });
        }

        public List<String> seenAfterCommit() {
            return seenAfterCommit;
        }

        public int attempts() {
            return attempts.get();
        }
    }

    private ApplicationContextRunner runner() throws Exception {
        String[] dataSource = dataSource();
        createTables(dataSource);
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(
                        DataSourceAutoConfiguration.class,
                        DataSourceTransactionManagerAutoConfiguration.class,
                        TransactionAutoConfiguration.class,
                        JdbcTemplateAutoConfiguration.class,
                        KeelAutoConfiguration.class,
                        KeelActuatorAutoConfiguration.class))
                .withPropertyValues(dataSource)
                .withPropertyValues(
                        "keel.retry.initial-delay=10ms", "keel.retry.max-delay=20ms", "keel.outbox.poll-interval=50ms")
                .withBean(Payments.class)
                .withBean(Audits.class);
    }

    static final String ORDERS = "CREATE TABLE orders (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)";
    static final String PAYMENTS = "CREATE TABLE payments (order_id TEXT NOT NULL, amount INTEGER NOT NULL)";

    @Test
    void anEmitInATransactionCommitsWithTheBusinessRowAndIsDeliveredAfterTheCommit() throws Exception {
        runner().run(context -> {
            assertThat(context).hasNotFailed();
            KeelEvents events = context.getBean(KeelEvents.class);
            JdbcTemplate jdbc = context.getBean(JdbcTemplate.class);
            TransactionTemplate tx = context.getBean(TransactionTemplate.class);
            Payments payments = context.getBean(Payments.class);

            tx.executeWithoutResult(status -> {
                jdbc.update("INSERT INTO orders (id, amount) VALUES (?, ?)", "o-1", 10);
                assertThat(events.joinsTransaction()).isTrue();
                events.emit("order.placed", "o-1", new Order("o-1", 10));
                // In the outbox, not yet in the log: nothing is delivered before the commit.
                assertThat(jdbc.queryForObject("SELECT COUNT(*) FROM keel_outbox", Integer.class))
                        .isEqualTo(1);
            });

            await().atMost(Duration.ofSeconds(10)).until(() -> payments.seen().contains("o-1"));
            assertThat(jdbc.queryForObject("SELECT COUNT(*) FROM keel_outbox", Integer.class))
                    .isZero();
            Health health = context.getBean(KeelHealthIndicator.class).health();
            assertThat(health.getStatus()).isEqualTo(Status.UP);
            Map<?, ?> components = (Map<?, ?>) health.getDetails().get("components");
            assertThat(components.keySet().stream().map(String::valueOf)).contains("journal", "outbox");
        });
    }

    @Test
    void aRolledBackTransactionLeavesNeitherTheRowNorTheEvent() throws Exception {
        runner().run(context -> {
            KeelEvents events = context.getBean(KeelEvents.class);
            JdbcTemplate jdbc = context.getBean(JdbcTemplate.class);
            TransactionTemplate tx = context.getBean(TransactionTemplate.class);
            Payments payments = context.getBean(Payments.class);

            tx.executeWithoutResult(status -> {
                jdbc.update("INSERT INTO orders (id, amount) VALUES (?, ?)", "o-2", 20);
                events.emit("order.placed", "o-2", new Order("o-2", 20));
                status.setRollbackOnly();
            });
            // A later order of the same key: had the first been kept, it would be delivered before this one.
            tx.executeWithoutResult(status -> events.emit("order.placed", "o-2", new Order("o-2b", 21)));

            await().atMost(Duration.ofSeconds(10)).until(() -> payments.seen().contains("o-2b"));
            assertThat(payments.seen()).containsExactly("o-2b");
            assertThat(jdbc.queryForObject("SELECT COUNT(*) FROM orders", Integer.class))
                    .isZero();
        });
    }

    @Test
    void aTransactionalListenersWritesCommitWithTheDeliveryAndRollBackWithAFailedAttempt() throws Exception {
        runner().run(context -> {
            KeelEvents events = context.getBean(KeelEvents.class);
            JdbcTemplate jdbc = context.getBean(JdbcTemplate.class);
            Payments payments = context.getBean(Payments.class);

            events.emit("order.placed", "o-3", new Order("o-3", 13));

            await().atMost(Duration.ofSeconds(10)).until(() -> payments.seen().contains("o-3"));
            assertThat(payments.attempts()).isEqualTo(2);
            // The first attempt's insert rolled back with it; the second committed with the delivery.
            assertThat(jdbc.queryForObject("SELECT COUNT(*) FROM payments WHERE order_id = 'o-3'", Integer.class))
                    .isEqualTo(1);
            assertThat(jdbc.queryForObject(
                            "SELECT COUNT(*) FROM keel_inbox WHERE subscription = 'payments'", Integer.class))
                    .isEqualTo(1);
        });
    }

    @Test
    void aListenerTransactionMarkedRollbackOnlyRollsBackTheDeliveryAndAfterCommitRunsAfterKeelsCommit()
            throws Exception {
        runner().run(context -> {
            KeelEvents events = context.getBean(KeelEvents.class);
            JdbcTemplate jdbc = context.getBean(JdbcTemplate.class);
            Audits audits = context.getBean(Audits.class);

            events.emit("audit.entry", "a-1", "a-1");

            await().atMost(Duration.ofSeconds(10))
                    .until(() -> audits.seenAfterCommit().contains("a-1"));
            assertThat(audits.attempts()).isEqualTo(2);
            // The first attempt's row was rolled back with it, though the method returned normally.
            assertThat(jdbc.queryForList("SELECT amount FROM payments WHERE order_id = 'a-1'", Integer.class))
                    .containsExactly(2);
        });
    }

    @Test
    void withAJournalOfItsOwnAnEmitInATransactionWaitsForTheCommitAndARollbackDropsIt() throws Exception {
        runner().withPropertyValues("keel.engine=memory").run(context -> {
            KeelEvents events = context.getBean(KeelEvents.class);
            TransactionTemplate tx = context.getBean(TransactionTemplate.class);
            Keel keel = context.getBean(Keel.class);
            Payments payments = context.getBean(Payments.class);

            tx.executeWithoutResult(status -> {
                assertThat(events.joinsTransaction()).isFalse();
                events.emit("order.placed", "o-4", new Order("o-4", 40));
                status.setRollbackOnly();
            });
            tx.executeWithoutResult(status -> {
                events.emit("order.placed", "o-4", new Order("o-5", 50));
                assertThat(keel.stats().emitted()).isZero();
            });

            await().atMost(Duration.ofSeconds(10)).until(() -> payments.seen().contains("o-5"));
            assertThat(payments.seen()).containsExactly("o-5");
        });
    }
}
