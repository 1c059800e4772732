package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Event;
import dev.keel.Keel;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PostgresOutboxTest extends OutboxContract {
    private static PostgresServer server;

    @BeforeAll
    static void startPostgres() throws Exception {
        server = PostgresServer.start();
    }

    @AfterAll
    static void stopPostgres() throws Exception {
        server.close();
    }

    private String url;

    /** This test's database, made on first use (the contract's set-up uses it before any of this class's). */
    private String url() throws SQLException {
        if (url == null) {
            url = server.newDatabase();
        }
        return url;
    }

    @Override
    protected JdbcJournal.Builder journalOnTheDatabase() throws SQLException {
        return JdbcJournal.builder().postgres(url(), server.user(), null);
    }

    @Override
    protected Connection appConnection() throws SQLException {
        return DriverManager.getConnection(url(), server.user(), null);
    }

    @Override
    protected List<String> failLogInserts() {
        return List.of(
                "CREATE FUNCTION keel_test_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'the disk is on fire';"
                        + " END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER keel_test_refuse BEFORE INSERT ON keel_log FOR EACH ROW"
                        + " EXECUTE FUNCTION keel_test_refuse()");
    }

    @Override
    protected List<String> healLogInserts() {
        return List.of("DROP TRIGGER keel_test_refuse ON keel_log", "DROP FUNCTION keel_test_refuse()");
    }

    @Override
    protected List<String> refuseLogInsertsOf(String eventId) {
        return List.of(
                "CREATE FUNCTION keel_test_poison() RETURNS trigger AS $$ BEGIN IF NEW.event_id = '" + eventId
                        + "' THEN RAISE EXCEPTION 'poisoned row' USING ERRCODE = 'check_violation'; END IF;"
                        + " RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER keel_test_poison BEFORE INSERT ON keel_log FOR EACH ROW"
                        + " EXECUTE FUNCTION keel_test_poison()");
    }

    /**
     * An event id holding U+0000 (written before write() checked ids, or by hand) is refused by PostgreSQL's text
     * column with a SQLState of class 22 every time: the row is kept refused and the others flow.
     */
    @Test
    void shouldKeepARowWhoseIdPostgresCannotStoreRefusedAndRelayTheOthers() throws Exception {
        Keel keel = runtime(b -> b);
        JdbcOutbox outbox = outbox(keel, 0);
        Event<Order> before = placed("o-1", 1);
        Event<Order> bad = placed("o-2", 2).toBuilder().id("bad\u0000id").build();
        Event<Order> after = placed("o-3", 3);
        try (Connection c = appConnection()) {
            c.setAutoCommit(false);
            outbox.insertUncheckedForTests(c, List.of(before, bad, after));
            c.commit();
        }

        assertThat(outbox.relayNow()).isEqualTo(2);
        assertThat(eventsInLog()).containsExactlyInAnyOrder(before.id(), after.id());
        assertThat(outbox.waiting()).isZero();
        List<JdbcOutbox.RefusedRow> refused = outbox.refusedRows(10);
        assertThat(refused).hasSize(1);
        assertThat(refused.get(0).eventId()).isEqualTo(bad.id());
        assertThat(refused.get(0).reason()).contains("RequestFault");
        assertThat(outbox.relayNow()).isZero();
    }

    /**
     * Two instances (two journals, two runtimes) relay one outbox at once while the application writes to it: the
     * log holds every committed event exactly once, none missing, none twice.
     */
    @Test
    void shouldAppendEachEventExactlyOnceWhenTwoInstancesRelayAtOnce() throws Exception {
        Keel a = runtime(b -> b.retention(Duration.ofHours(1)));
        Keel b = runtime(b2 -> b2.retention(Duration.ofHours(1)));
        JdbcOutbox outboxA = journalOf(0).outbox(a, Duration.ofMillis(5));
        JdbcOutbox outboxB = journalOf(1).outbox(b, Duration.ofMillis(5));
        try (outboxA;
                outboxB) {
            outboxA.start();
            outboxB.start();
            List<String> ids = new ArrayList<>();
            try (Connection c = appConnection()) {
                c.setAutoCommit(false);
                for (int tx = 0; tx < 50; tx++) {
                    List<Event<Order>> events = new ArrayList<>();
                    for (int i = 0; i < 10; i++) {
                        Event<Order> e = placed("o-" + tx + "-" + i, i);
                        events.add(e);
                        ids.add(e.id());
                    }
                    outboxA.write(c, events);
                    c.commit();
                    outboxA.wake();
                    outboxB.wake();
                }
            }
            await().atMost(WAIT).until(() -> outboxA.waiting() == 0);

            Map<String, Integer> inLog = new HashMap<>();
            try (Connection c = journalOf(0).dataSourceForTests().getConnection();
                    Statement s = c.createStatement();
                    ResultSet r = s.executeQuery("SELECT event_id FROM keel_log")) {
                while (r.next()) {
                    inLog.merge(r.getString(1), 1, Integer::sum);
                }
            }
            assertThat(inLog.keySet()).containsExactlyInAnyOrderElementsOf(ids);
            assertThat(inLog.values()).allMatch(n -> n == 1);
            long[] byA = outboxA.relayCountsForTests();
            long[] byB = outboxB.relayCountsForTests();
            assertThat(byA[0] + byB[0]).isEqualTo(ids.size());
            System.out.printf(
                    "relayed by A: %d, by B: %d; claims lost to the other: %d and %d%n",
                    byA[0], byB[0], byA[1], byB[1]);
        }
    }
}
