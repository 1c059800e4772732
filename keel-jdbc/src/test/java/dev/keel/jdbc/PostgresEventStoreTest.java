package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.eventsourcing.CommandRejectedException;
import dev.keel.eventsourcing.Committed;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.StreamConflictException;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.spi.Journal;
import dev.keel.test.eventsourcing.EventStoreContract;
import dev.keel.test.eventsourcing.Shows;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PostgresEventStoreTest extends EventStoreContract {
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

    @Override
    protected Journal newJournal() throws Exception {
        url = server.newDatabase();
        return JdbcJournal.postgres(url, server.user(), null);
    }

    /**
     * Two instances (two journals, two runtimes) on one database race for the last seat of shows that exist
     * and for the first event of streams that do not: every loser gets a typed answer, never a SQL error.
     */
    @Test
    void twoInstancesRacingOnStreamsGetTypedConflicts() throws Exception {
        JdbcJournal otherJournal = JdbcJournal.postgres(url, server.user(), null);
        try (Keel other = Keel.builder()
                        .journal(otherJournal)
                        .lanes(LANES)
                        .build()
                        .start();
                EventSourcing a = EventSourcing.builder(keel, store)
                        .register(Shows.showType(0))
                        .retriesOnConflict(0)
                        .build();
                EventSourcing b = EventSourcing.builder(other, otherJournal.eventStore())
                        .register(Shows.showType(0))
                        .retriesOnConflict(0)
                        .carryCommands(false)
                        .build()) {
            List<CompletableFuture<Committed>> opens = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                // Both instances create each show at once: one appends, the other meets the first's row.
                opens.add(a.send("show-" + i, new Shows.OpenShow(1)));
                opens.add(b.send("show-" + i, new Shows.OpenShow(1)));
            }
            int opened = 0;
            for (CompletableFuture<Committed> f : opens) {
                try {
                    Committed c = f.get(30, TimeUnit.SECONDS);
                    opened += c.events().size();
                } catch (ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(StreamConflictException.class);
                }
            }
            assertThat(opened).isEqualTo(40);

            List<CompletableFuture<Committed>> reserves = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                reserves.add(a.send("show-" + i, new Shows.Reserve("a" + i, null, 0)));
                reserves.add(b.send("show-" + i, new Shows.Reserve("b" + i, null, 0)));
            }
            int won = 0;
            for (CompletableFuture<Committed> f : reserves) {
                try {
                    f.get(30, TimeUnit.SECONDS);
                    won++;
                } catch (ExecutionException e) {
                    assertThat(e.getCause())
                            .isInstanceOfAny(StreamConflictException.class, CommandRejectedException.class);
                }
            }
            assertThat(won).isEqualTo(40);
            for (int i = 0; i < 40; i++) {
                assertThat(store.info("show:show-" + i).orElseThrow().version()).isEqualTo(2);
            }
        }
    }

    @Override
    protected EventStore eventStore(Journal opened) {
        return ((JdbcJournal) opened).eventStore();
    }
}
