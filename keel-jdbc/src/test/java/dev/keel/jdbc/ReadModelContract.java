package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.test.eventsourcing.Shows;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Read models on a journal's database: live, exactly once per stream version, rebuilt under load, switched. */
abstract class ReadModelContract {
    JdbcJournal journal;
    Keel keel;
    EventSourcing es;
    ReadModels models;

    abstract JdbcJournal newJournal() throws Exception;

    @BeforeEach
    void start() throws Exception {
        journal = newJournal();
        keel = Keel.builder().journal(journal).lanes(4).build().start();
        es = EventSourcing.builder(keel, journal.eventStore())
                .register(Shows.showType(0))
                .build();
        models = journal.readModels(keel, es);
    }

    @AfterEach
    void stop() {
        models.close();
        es.close();
        keel.close();
    }

    static ReadModel seats() {
        return ReadModel.builder("seats")
                .reads(Shows.showType(0))
                .table(
                        "show_seats",
                        "CREATE TABLE {table} (stream VARCHAR(300) PRIMARY KEY, seats INTEGER NOT NULL,"
                                + " holders INTEGER NOT NULL)")
                .handler((c, table, e) -> {
                    switch (e.event()) {
                        case Shows.Opened o -> {
                            try (PreparedStatement s = c.prepareStatement(
                                    "INSERT INTO " + table + " (stream, seats, holders) VALUES (?, ?, 0)")) {
                                s.setString(1, e.stream());
                                s.setInt(2, o.seats());
                                s.executeUpdate();
                            }
                        }
                        case Shows.Reserved r -> {
                            try (PreparedStatement s = c.prepareStatement(
                                    "UPDATE " + table + " SET holders = holders + 1 WHERE stream = ?")) {
                                s.setString(1, e.stream());
                                s.executeUpdate();
                            }
                        }
                        default -> {}
                    }
                })
                .build();
    }

    /** The read model's rows: stream → holders. */
    Map<String, Integer> rows(String table) throws SQLException {
        Map<String, Integer> rows = new HashMap<>();
        DataSource ds = journal.dataSourceForTests();
        try (Connection c = ds.getConnection();
                PreparedStatement s = c.prepareStatement("SELECT stream, holders FROM " + table);
                ResultSet r = s.executeQuery()) {
            while (r.next()) {
                rows.put(r.getString(1), r.getInt(2));
            }
        }
        return rows;
    }

    static void eventually(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the read model did not get there within 30 s");
            }
            Thread.sleep(20);
        }
    }

    private Map<String, Integer> quietly(String table) {
        try {
            return rows(table);
        } catch (SQLException e) {
            return Map.of();
        }
    }

    @Test
    void aModelAddedLateIsBuiltFromTheStoreThenKeptLive() throws Exception {
        es.send("a", new Shows.OpenShow(10)).get(10, TimeUnit.SECONDS);
        es.send("a", new Shows.Reserve("x", null, 0)).get(10, TimeUnit.SECONDS);

        models.add(seats()).get(30, TimeUnit.SECONDS);
        assertThat(models.table("seats")).isEqualTo("show_seats_1");
        assertThat(rows("show_seats_1")).containsEntry("show:a", 1);

        es.send("a", new Shows.Reserve("y", null, 0)).get(10, TimeUnit.SECONDS);
        es.send("b", new Shows.OpenShow(3)).get(10, TimeUnit.SECONDS);
        eventually(() -> quietly("show_seats_1").getOrDefault("show:a", 0) == 2
                && quietly("show_seats_1").containsKey("show:b"));
    }

    @Test
    void aRebuildUnderLoadSwitchesToATableWithEveryEventOnce() throws Exception {
        models.add(seats()).get(30, TimeUnit.SECONDS);
        for (int i = 0; i < 20; i++) {
            es.send("s" + i, new Shows.OpenShow(1_000)).get(10, TimeUnit.SECONDS);
        }
        AtomicBoolean stop = new AtomicBoolean();
        List<CompletableFuture<?>> sent = new ArrayList<>();
        Thread load = Thread.ofVirtual().start(() -> {
            int n = 0;
            while (!stop.get()) {
                sent.add(es.send("s" + (n % 20), new Shows.Reserve("h" + n, null, 0)));
                n++;
                if (n % 50 == 0) {
                    try {
                        Thread.sleep(5);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }
        });
        Thread.sleep(200);
        long replayed = models.rebuild("seats").get(60, TimeUnit.SECONDS);
        Thread.sleep(200);
        stop.set(true);
        load.join();
        for (CompletableFuture<?> f : sent) {
            f.get(30, TimeUnit.SECONDS);
        }

        assertThat(replayed).isPositive();
        assertThat(models.table("seats")).isEqualTo("show_seats_2");
        // Every stream's reservations, each counted once, in the new table as in the store.
        eventually(() -> {
            Map<String, Integer> rows = quietly("show_seats_2");
            for (int i = 0; i < 20; i++) {
                long reserved = journal.eventStore().load("show:s" + i, 0, 100_000).stream()
                        .filter(e -> e.type().equals("show.reserved"))
                        .count();
                if (rows.getOrDefault("show:s" + i, -1) != reserved) {
                    return false;
                }
            }
            return true;
        });
        assertThat(rows("show_seats_1")).hasSize(20); // the previous generation stays until the next switch

        models.rebuild("seats").get(60, TimeUnit.SECONDS);
        assertThat(models.table("seats")).isEqualTo("show_seats_3");
        assertThat(quietly("show_seats_1")).isEmpty(); // dropped
    }

    @Test
    void aRepeatedDeliveryChangesNothing() throws Exception {
        models.add(seats()).get(30, TimeUnit.SECONDS);
        es.send("r", new Shows.OpenShow(5)).get(10, TimeUnit.SECONDS);
        es.send("r", new Shows.Reserve("x", null, 0)).get(10, TimeUnit.SECONDS);
        eventually(() -> quietly("show_seats_1").getOrDefault("show:r", 0) == 1);
        var reserved = journal.eventStore().load("show:r", 1, 1).getFirst();

        // The reservation's log event once more, as a redelivery would bring it.
        dev.keel.Event<Object> again = dev.keel.Event.builder("show.reserved", (Object) Map.of("holder", "x"))
                .id(reserved.eventId())
                .source(EventSourcing.STREAMS_SOURCE + "show/r")
                .subject("2")
                .key("show:r")
                .build();
        keel.emitThrough(List.of(again), appends -> journal.append(appends)).get(10, TimeUnit.SECONDS);
        // A later event of the stream, behind the repeat on its lane: once it is applied, so was the repeat.
        es.send("r", new Shows.Reserve("y", null, 0)).get(10, TimeUnit.SECONDS);
        eventually(() -> quietly("show_seats_1").getOrDefault("show:r", 0) >= 2);
        Thread.sleep(100);

        assertThat(rows("show_seats_1")).containsEntry("show:r", 2);
    }
}
