package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.Handler;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.test.TestClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TransactionalHandlerTest {
    record Payment(String account, int cents) {}

    @TempDir
    Path dir;

    private Path file;
    private final TestClock clock = TestClock.create();

    @BeforeEach
    void chooseFile() {
        file = dir.resolve("keel.db");
    }

    /** The application's own table, beside Keel's in the journal's database (created once the journal is open). */
    private void createLedger() throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS ledger (event_id TEXT, account TEXT, cents INTEGER)");
        }
    }

    private static void book(Delivery<Payment> d, Connection c) throws Exception {
        try (PreparedStatement s = c.prepareStatement("INSERT INTO ledger VALUES (?, ?, ?)")) {
            s.setString(1, d.event().id());
            s.setString(2, d.data().account());
            s.setInt(3, d.data().cents());
            s.executeUpdate();
        }
    }

    private int ledgerRows() throws Exception {
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file);
                Statement s = c.createStatement();
                ResultSet r = s.executeQuery("SELECT COUNT(*) FROM ledger")) {
            return r.next() ? r.getInt(1) : 0;
        }
    }

    @Test
    void shouldApplyEachEventsDatabaseWorkOnceEvenWhenDeliveredAgain() throws Exception {
        JdbcJournal journal = JdbcJournal.builder().sqlite(file).clock(clock).build();
        try (Keel keel = Keel.builder().lanes(2).clock(clock).journal(journal).build()) {
            createLedger();
            Handler<Payment> handler = journal.transactional(Payment.class, TransactionalHandlerTest::book);
            keel.subscribe(Subscription.builder("ledger")
                    .types("payment.*")
                    .handler(Payment.class, handler)
                    .build());
            Event<Payment> e = Event.builder("payment.received", new Payment("acc-1", 500))
                    .key("acc-1")
                    .build();
            keel.emit(e).join();
            keel.emit("payment.received", "acc-2", new Payment("acc-2", 700)).join();
            keel.process();
            assertThat(ledgerRows()).isEqualTo(2);

            // A redelivery (what at-least-once allows after a crash) finds the inbox row and changes nothing.
            handler.handle(new Delivery<>("ledger", e, 1, List.of(), 0, 1, 0));
            assertThat(ledgerRows()).isEqualTo(2);
        }
    }

    @Test
    void shouldRollBackTheHandlersWritesWhenItFailsSoTheRetryAppliesThemOnce() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        JdbcJournal journal = JdbcJournal.builder().sqlite(file).clock(clock).build();
        try (Keel keel = Keel.builder().lanes(1).clock(clock).journal(journal).build()) {
            createLedger();
            keel.subscribe(Subscription.builder("ledger")
                    .types("payment.*")
                    .retry(RetryPolicy.builder()
                            .initialDelay(Duration.ofSeconds(1))
                            .jitter(0)
                            .build())
                    .handler(Payment.class, journal.transactional(Payment.class, (d, c) -> {
                        book(d, c);
                        if (calls.incrementAndGet() == 1) {
                            throw new IllegalStateException("fraud check timed out");
                        }
                    }))
                    .build());
            keel.emit("payment.received", "acc-1", new Payment("acc-1", 500)).join();
            keel.process();
            assertThat(ledgerRows()).isZero();
            clock.advance(Duration.ofSeconds(1));
            keel.process();
            assertThat(ledgerRows()).isEqualTo(1);
            assertThat(calls).hasValue(2);
        }
    }

    @Test
    void shouldRefuseToRunBeforeTheJournalIsOpen() {
        JdbcJournal journal = JdbcJournal.sqlite(file);
        Handler<Payment> handler = journal.transactional(Payment.class, TransactionalHandlerTest::book);
        Event<Payment> e =
                Event.builder("payment.received", new Payment("a", 1)).build();
        assertThatThrownBy(() -> handler.handle(new Delivery<>("s", e, 1, List.of(), 0, 1, 0)))
                .hasMessageContaining("is not open");
    }
}
