package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.ComponentHealth;
import dev.keel.Event;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.JournalException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The transactional outbox and {@code shareDatabase()} on one engine: the application's table and Keel's in one
 * database, events written in the application's transactions, relayed to the log once each. Subclassed per database.
 */
abstract class OutboxContract {
    static final int LANES = 2;
    static final Duration WAIT = Duration.ofSeconds(10);

    /** A builder of a journal on this test's database (the same database every call), without shareDatabase(). */
    protected abstract JdbcJournal.Builder journalOnTheDatabase() throws Exception;

    /** A connection of the application's own to this test's database. */
    protected abstract Connection appConnection() throws SQLException;

    /** SQL that makes every insert into the log fail (a trigger named keel_test_refuse). */
    protected abstract List<String> failLogInserts();

    /** SQL that removes what {@link #failLogInserts()} made. */
    protected abstract List<String> healLogInserts();

    /**
     * SQL that makes the log refuse the insert of one event, by id, the way a database refuses a value of one request
     * (a constraint: SQLite's CONSTRAINT, PostgreSQL's SQLState class 23), with the message "poisoned row".
     */
    protected abstract List<String> refuseLogInsertsOf(String eventId);

    record Order(String id, int cents) {}

    private final List<AutoCloseable> opened = new ArrayList<>();

    @BeforeEach
    void createTheApplicationsTable() throws Exception {
        try (Connection c = appConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE orders (id VARCHAR(64) PRIMARY KEY, cents INTEGER NOT NULL)");
            s.execute("INSERT INTO orders (id, cents) VALUES ('before-keel', 1)");
        }
    }

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = opened.size() - 1; i >= 0; i--) {
            opened.get(i).close();
        }
    }

    /** A runtime on a new journal sharing the database. */
    Keel runtime(UnaryOperator<Keel.Builder> settings) throws Exception {
        return runtime(settings, j -> j);
    }

    /** A runtime on a new journal sharing the database, the journal built with the settings given. */
    Keel runtime(UnaryOperator<Keel.Builder> settings, UnaryOperator<JdbcJournal.Builder> journalSettings)
            throws Exception {
        JdbcJournal journal =
                journalSettings.apply(journalOnTheDatabase().shareDatabase()).build();
        Keel keel = settings.apply(Keel.builder().lanes(LANES).journal(journal)).build();
        opened.add(keel);
        journals.add(journal);
        return keel;
    }

    private final List<JdbcJournal> journals = new ArrayList<>();

    JdbcJournal journalOf(int index) {
        return journals.get(index);
    }

    JdbcOutbox outbox(Keel keel, int index) {
        JdbcOutbox outbox = journalOf(index).outbox(keel);
        opened.add(outbox);
        return outbox;
    }

    static Queue<Event<?>> recordAll(Keel keel, String types) {
        Queue<Event<?>> seen = new ConcurrentLinkedQueue<>();
        keel.subscribe(Subscription.builder("seen")
                .types(types)
                .handler(Object.class, d -> seen.add(d.event()))
                .build());
        return seen;
    }

    static Event<Order> placed(String id, int cents) {
        return Event.builder("order.placed", new Order(id, cents)).key(id).build();
    }

    /** The application's transaction: its row and the event, committed together. */
    void placeOrder(JdbcOutbox outbox, Event<Order> event, boolean commit) throws SQLException {
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement s = c.prepareStatement("INSERT INTO orders (id, cents) VALUES (?, ?)")) {
                s.setString(1, event.data().id());
                s.setInt(2, event.data().cents());
                s.executeUpdate();
            }
            outbox.write(c, event);
            if (commit) {
                c.commit();
            } else {
                c.rollback();
            }
        }
    }

    long orders(String id) throws SQLException {
        try (Connection c = appConnection();
                PreparedStatement s = c.prepareStatement("SELECT COUNT(*) FROM orders WHERE id = ?")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        }
    }

    @Test
    void shouldRefuseADatabaseHoldingAnApplicationsTablesUnlessToldToShareIt() throws Exception {
        assertThatThrownBy(() -> Keel.builder()
                        .lanes(LANES)
                        .journal(journalOnTheDatabase().build())
                        .build())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("holds tables that are not Keel's")
                .hasMessageContaining("shareDatabase()");

        Keel keel = runtime(b -> b);
        keel.emit("order.placed", "o-1", new Order("o-1", 5)).join();
        assertThat(orders("before-keel")).isEqualTo(1);
        try (Connection c = appConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT COUNT(*) FROM orders")) {
            r.next();
            assertThat(r.getLong(1)).isEqualTo(1); // the application's table is untouched
        }
    }

    @Test
    void shouldDeliverACommittedWriteWithItsIdAndTheApplicationsRowCommittedWithIt() throws Exception {
        Keel keel = runtime(b -> b);
        Queue<Event<?>> seen = recordAll(keel, "order.*");
        keel.start();
        JdbcOutbox outbox = outbox(keel, 0);
        outbox.start();

        Event<Order> event = placed("o-1", 500);
        placeOrder(outbox, event, true);
        outbox.wake();

        await().atMost(WAIT).until(() -> seen.size() == 1);
        assertThat(seen.peek().id()).isEqualTo(event.id());
        assertThat(seen.peek().partitionKey()).isEqualTo("o-1");
        assertThat(orders("o-1")).isEqualTo(1);
        assertThat(outbox.waiting()).isZero();
        assertThat(outbox.health().status()).isEqualTo(ComponentHealth.Status.HEALTHY);
    }

    @Test
    void shouldNeverDeliverAWriteWhoseTransactionRolledBack() throws Exception {
        Keel keel = runtime(b -> b);
        Queue<Event<?>> seen = recordAll(keel, "order.*");
        JdbcOutbox outbox = outbox(keel, 0);

        Event<Order> rolledBack = placed("o-1", 500);
        placeOrder(outbox, rolledBack, false);
        Event<Order> committed = placed("o-2", 700);
        placeOrder(outbox, committed, true);

        assertThat(outbox.relayNow()).isEqualTo(1);
        keel.process();
        assertThat(seen).extracting(Event::id).containsExactly(committed.id());
        assertThat(orders("o-1")).isZero();
        assertThat(outbox.waiting()).isZero();
        assertThat(outbox.relayNow()).isZero();
    }

    @Test
    void shouldRelayRowsWrittenWhileNoRelayRanOnceANewRuntimeStarts() throws Exception {
        Keel first = runtime(b -> b);
        JdbcOutbox firstOutbox = outbox(first, 0);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            Event<Order> e = placed("o-" + i, i);
            ids.add(e.id());
            placeOrder(firstOutbox, e, true);
        }
        firstOutbox.close();
        first.close(); // the process stops before any relay moved them

        Keel second = runtime(b -> b);
        Queue<Event<?>> seen = recordAll(second, "order.*");
        second.start();
        JdbcOutbox secondOutbox = outbox(second, 1);
        assertThat(secondOutbox.waiting()).isEqualTo(20);
        secondOutbox.start();

        await().atMost(WAIT).until(() -> seen.size() >= 20);
        assertThat(seen).extracting(Event::id).containsExactlyInAnyOrderElementsOf(ids);
        assertThat(secondOutbox.waiting()).isZero();
    }

    @Test
    void shouldKeepAnEventKeelRefusesWithItsReasonAndRelayTheOthers() throws Exception {
        Keel keel = runtime(b -> b.maxPayloadBytes(200));
        Queue<Event<?>> seen = recordAll(keel, "order.*");
        JdbcOutbox outbox = outbox(keel, 0);
        Event<Order> small = placed("o-1", 1);
        Event<String> big =
                Event.builder("order.note", "x".repeat(300)).key("o-1").build();
        Event<Order> after = placed("o-2", 2);
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            outbox.write(c, List.of(small, big, after));
            c.commit();
        }

        assertThat(outbox.relayNow()).isEqualTo(2);
        keel.process();

        assertThat(seen).extracting(Event::id).containsExactly(small.id(), after.id());
        assertThat(outbox.waiting()).isZero();
        assertThat(outbox.refused()).isEqualTo(1);
        List<JdbcOutbox.RefusedRow> refused = outbox.refusedRows(10);
        assertThat(refused).hasSize(1);
        assertThat(refused.get(0).eventId()).isEqualTo(big.id());
        assertThat(refused.get(0).type()).isEqualTo("order.note");
        assertThat(refused.get(0).reason()).contains("PayloadTooLargeException");
        ComponentHealth health = outbox.health();
        assertThat(health.status()).isEqualTo(ComponentHealth.Status.DEGRADED);
        assertThat(health.reason()).contains("1 events Keel refused");
        assertThat(outbox.relayNow()).isZero(); // kept, not tried again
    }

    @Test
    void shouldCarryTheCausationOfTheDeliveryBeingHandled() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcJournal journal = journalOf(0);
        JdbcOutbox outbox = journal.outbox(keel, Duration.ofMillis(20));
        opened.add(outbox);
        keel.subscribe(Subscription.builder("invoicing")
                .types("order.placed")
                .handler(
                        Order.class,
                        journal.transactional(
                                Order.class,
                                (d, c) -> outbox.write(
                                        c,
                                        Event.of("invoice.requested", d.data().id()))))
                .build());
        Queue<Event<?>> seen = recordAll(keel, "invoice.*");
        keel.start();
        outbox.start();

        Event<Order> order = placed("o-1", 10).toBuilder().tenant("acme").build();
        keel.emit(order).join();

        await().atMost(WAIT).until(() -> !seen.isEmpty());
        Event<?> invoice = seen.peek();
        assertThat(invoice.causationId()).isEqualTo(order.id());
        assertThat(invoice.correlationId()).isEqualTo(order.id());
        assertThat(invoice.tenant()).isEqualTo("acme");
        assertThat(invoice.depth()).isEqualTo(1);
    }

    @Test
    void shouldKeepRowsThroughADatabaseFailureAndRelayThemOnceItIsOver() throws Exception {
        Keel keel = runtime(b -> b);
        Queue<Event<?>> seen = recordAll(keel, "order.*");
        keel.start();
        JdbcOutbox outbox = outbox(keel, 0);
        for (int i = 0; i < 3; i++) {
            placeOrder(outbox, placed("o-" + i, i), true);
        }
        try (Connection c = appConnection();
                Statement s = c.createStatement()) {
            s.execute("ALTER TABLE keel_outbox RENAME TO keel_outbox_away"); // the relay's reads now fail
        }
        outbox.start();
        await().atMost(WAIT)
                .until(() -> outbox.health().reason() != null
                        && outbox.health().reason().contains("the relay's last attempt failed"));
        assertThat(outbox.relayThreadAlive()).isTrue();

        try (Connection c = appConnection();
                Statement s = c.createStatement()) {
            s.execute("ALTER TABLE keel_outbox_away RENAME TO keel_outbox");
        }
        await().atMost(WAIT).until(() -> seen.size() == 3);
        assertThat(outbox.waiting()).isZero();
        await().atMost(WAIT).until(() -> outbox.health().status() == ComponentHealth.Status.HEALTHY);
    }

    /**
     * The move is one transaction: when the append fails after the rows were deleted, the deletes roll back with it,
     * so the rows wait and later become exactly one event each.
     */
    @Test
    void shouldLeaveTheRowsWhenTheAppendFailsAfterTheyWereClaimed() throws Exception {
        Keel keel = runtime(b -> b.retention(Duration.ofHours(1)));
        JdbcOutbox outbox = outbox(keel, 0);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Event<Order> e = placed("o-" + i, i);
            ids.add(e.id());
            placeOrder(outbox, e, true);
        }
        execute(failLogInserts());

        assertThatThrownBy(outbox::relayNow)
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("the disk is on fire");
        assertThat(outbox.waiting()).isEqualTo(5);
        assertThat(eventsInLog()).isEmpty();

        execute(healLogInserts());
        assertThat(outbox.relayNow()).isEqualTo(5);
        assertThat(eventsInLog()).containsExactlyInAnyOrderElementsOf(ids);
        assertThat(outbox.waiting()).isZero();
    }

    /**
     * A row the database refuses to append (a value of its own, not an outage) must not block the outbox: it is
     * kept refused with the reason, and the rows after it flow.
     */
    @Test
    void shouldKeepARowTheLogRefusesRefusedAndRelayTheOthers() throws Exception {
        Keel keel = runtime(b -> b);
        Queue<Event<?>> seen = recordAll(keel, "order.*");
        JdbcOutbox outbox = outbox(keel, 0);
        Event<Order> before = placed("o-1", 1);
        Event<Order> poison = placed("o-2", 2).toBuilder().id("poison-1").build();
        Event<Order> after = placed("o-3", 3);
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            outbox.write(c, List.of(before, poison, after));
            c.commit();
        }
        execute(refuseLogInsertsOf("poison-1"));

        assertThat(outbox.relayNow()).isEqualTo(2);
        keel.process();
        assertThat(seen).extracting(Event::id).containsExactlyInAnyOrder(before.id(), after.id());
        assertThat(outbox.waiting()).isZero();
        List<JdbcOutbox.RefusedRow> refused = outbox.refusedRows(10);
        assertThat(refused).hasSize(1);
        assertThat(refused.get(0).eventId()).isEqualTo("poison-1");
        assertThat(refused.get(0).reason()).contains("poisoned row");
        assertThat(outbox.relayNow()).isZero(); // kept, not tried again

        // Later rows are not held back by it, on the relay thread too.
        Event<Order> later = placed("o-4", 4);
        placeOrder(outbox, later, true);
        keel.start();
        outbox.start();
        outbox.wake();
        await().atMost(WAIT).until(() -> seen.size() == 3);
        assertThat(outbox.refused()).isEqualTo(1);
    }

    @Test
    void shouldRefuseAnEventIdTheLogCannotStoreAtOnce() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            assertThatThrownBy(() -> outbox.write(
                            c,
                            List.of(
                                    placed("o-1", 1),
                                    placed("o-2", 2).toBuilder()
                                            .id("bad\u0000id")
                                            .build())))
                    .isInstanceOf(InvalidEventException.class)
                    .hasMessageContaining("U+0000")
                    .hasMessageContaining("nothing was written");
            c.commit();
        }
        assertThat(outbox.waiting()).isZero();
    }

    /** Closing stops the relay between batches, however many rows wait; relayNow() waits for it a bounded time. */
    @Test
    void shouldStopBetweenBatchesWhenClosedAndNotWaitForeverForTheRelay() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        List<Event<Order>> events = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            events.add(placed("o-" + i, i));
        }
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            outbox.write(c, events);
            c.commit();
        }
        java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        outbox.beforeMoveForTests = () -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        outbox.relayNowWait = Duration.ofMillis(200);
        outbox.start();
        assertThat(entered.await(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

        long started = System.nanoTime();
        assertThat(outbox.relayNow()).isZero(); // the relay thread holds the move: bounded, not forever
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(5));

        Thread closing = Thread.ofPlatform().start(outbox::close);
        await().atMost(WAIT).until(() -> closing.getState() == Thread.State.TIMED_WAITING);
        release.countDown();
        closing.join(WAIT.toMillis());
        assertThat(closing.isAlive()).isFalse();
        assertThat(outbox.relayThreadAlive()).isFalse();
        assertThat(outbox.waiting()).isEqualTo(300); // closed before the first batch: nothing more was moved
    }

    /** A relay thread an Error ended, and rows waiting too long, make health degraded with the reason. */
    @Test
    void shouldReportADeadOrStalledRelayAsDegraded() throws Exception {
        dev.keel.test.TestClock clock = dev.keel.test.TestClock.create();
        Keel keel = runtime(b -> b, j -> j.clock(clock));
        JdbcOutbox outbox = outbox(keel, 0);
        placeOrder(outbox, placed("o-1", 1), true);
        assertThat(outbox.health().status()).isEqualTo(ComponentHealth.Status.HEALTHY);
        clock.advance(Duration.ofSeconds(31));
        ComponentHealth stalled = outbox.health();
        assertThat(stalled.status()).isEqualTo(ComponentHealth.Status.DEGRADED);
        assertThat(stalled.reason()).contains("the oldest waiting row has waited");

        outbox.beforeMoveForTests = () -> {
            throw new StackOverflowError("the relay's stack is gone");
        };
        outbox.start();
        await().atMost(WAIT).until(() -> !outbox.relayThreadAlive());
        ComponentHealth dead = outbox.health();
        assertThat(dead.status()).isEqualTo(ComponentHealth.Status.DEGRADED);
        assertThat(dead.reason()).contains("the relay thread has stopped").contains("the relay's stack is gone");
    }

    private void execute(List<String> statements) throws SQLException {
        try (Connection c = appConnection();
                Statement s = c.createStatement()) {
            for (String sql : statements) {
                s.execute(sql);
            }
        }
    }

    List<String> eventsInLog() throws SQLException {
        List<String> ids = new ArrayList<>();
        try (Connection c = appConnection();
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT event_id FROM keel_log")) {
            while (r.next()) {
                ids.add(r.getString(1));
            }
        }
        return ids;
    }

    @Test
    void shouldStopTheRelayWhenTheRuntimeCloses() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        outbox.start();
        assertThat(outbox.relayThreadAlive()).isTrue();
        keel.close();
        await().atMost(WAIT).until(() -> !outbox.relayThreadAlive());
    }

    @Test
    void shouldRefuseDataThatCannotBeWrittenAndWriteNothing() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            assertThatThrownBy(() -> outbox.write(c, List.of(placed("o-1", 1), Event.of("order.odd", new Object()))))
                    .isInstanceOf(InvalidEventException.class)
                    .hasMessageContaining("order.odd")
                    .hasMessageContaining("nothing was written");
            c.commit();
        }
        assertThat(outbox.waiting()).isZero();
    }

    @Test
    void shouldFailWithAJournalExceptionWhenTheDatabaseRefusesTheRows() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        Connection closed = appConnection();
        closed.close();
        assertThatThrownBy(() -> outbox.write(closed, placed("o-1", 1)))
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("write 1 events to the outbox")
                .hasCauseInstanceOf(SQLException.class);
    }

    @Test
    void shouldGiveTheSameOutboxForTheSameRuntimeAndRefuseAnother() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        assertThat(journalOf(0).outbox(keel)).isSameAs(outbox);
        Keel other = Keel.builder().lanes(LANES).build();
        opened.add(other);
        assertThatThrownBy(() -> journalOf(0).outbox(other)).isInstanceOf(IllegalArgumentException.class);
    }
}
