package dev.keel.test.eventsourcing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.CommandRejectedException;
import dev.keel.eventsourcing.Committed;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.EventDecodingException;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.ExpectedVersion;
import dev.keel.eventsourcing.Saga;
import dev.keel.eventsourcing.StreamConflictException;
import dev.keel.eventsourcing.StreamDeletedException;
import dev.keel.eventsourcing.StreamState;
import dev.keel.eventsourcing.UnknownStreamTypeException;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.NewEvent;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.eventsourcing.spi.Snapshot;
import dev.keel.eventsourcing.spi.StreamWrite;
import dev.keel.spi.Journal;
import dev.keel.test.eventsourcing.Shows.Charge;
import dev.keel.test.eventsourcing.Shows.Ledger;
import dev.keel.test.eventsourcing.Shows.OpenShow;
import dev.keel.test.eventsourcing.Shows.Reserve;
import dev.keel.test.eventsourcing.Shows.Show;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What an event store and command handling over it must do, on a real Keel runtime built on the store's
 * journal. An engine's test class says how to make a fresh journal and its event store.
 */
public abstract class EventStoreContract {
    /** The lane count the suite opens journals with. */
    protected static final int LANES = 4;

    private static final Duration WAIT = Duration.ofSeconds(20);

    protected Journal journal;
    protected EventStore store;
    protected Keel keel;
    private final List<EventSourcing> opened = new ArrayList<>();

    /** A new, empty journal of the engine under test, not yet opened. */
    protected abstract Journal newJournal() throws Exception;

    /** The event store in the opened journal's database. */
    protected abstract EventStore eventStore(Journal opened);

    @BeforeEach
    void start() throws Exception {
        journal = newJournal();
        keel = Keel.builder().journal(journal).lanes(LANES).build().start();
        store = eventStore(journal);
    }

    @AfterEach
    void stop() {
        opened.forEach(EventSourcing::close);
        keel.close();
    }

    private EventSourcing sourcing(AggregateType<?, ?, ?>... types) {
        return sourcing(b -> {}, types);
    }

    private EventSourcing sourcing(
            java.util.function.Consumer<EventSourcing.Builder> more, AggregateType<?, ?, ?>... types) {
        EventSourcing.Builder b = EventSourcing.builder(keel, store);
        for (AggregateType<?, ?, ?> t : types) {
            b.register(t);
        }
        more.accept(b);
        EventSourcing es = b.build();
        opened.add(es);
        return es;
    }

    private static <T> T await(CompletableFuture<T> f) throws Exception {
        return f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    private static Throwable failure(CompletableFuture<?> f) {
        try {
            f.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause();
        } catch (Exception e) {
            throw new AssertionError("expected the command to fail, but waiting for it failed: " + e, e);
        }
        throw new AssertionError("expected the command to fail, but it succeeded");
    }

    private static NewEvent raw(String type, int revision, String json) {
        return new NewEvent(
                dev.keel.EventIds.next(System.currentTimeMillis()),
                type,
                revision,
                json.getBytes(StandardCharsets.UTF_8),
                Map.of());
    }

    private CompletableFuture<Long> appendRaw(String stream, ExpectedVersion expected, NewEvent... events) {
        List<Event<?>> published = new ArrayList<>();
        for (NewEvent e : events) {
            published.add(Event.builder(e.type(), (Object) new String(e.data(), StandardCharsets.UTF_8))
                    .id(e.eventId())
                    .key(stream)
                    .build());
        }
        return store.append(
                new StreamWrite(stream, "show", expected, List.of(events), null, null, null),
                through -> keel.emitThrough(published, through));
    }

    // ---- commands, versions, the log ----

    @Test
    void commandsAppendVersionedEventsThatEveryLogSubscriberSees() throws Exception {
        ConcurrentLinkedQueue<Event<?>> seen = new ConcurrentLinkedQueue<>();
        keel.on("seen", "show.*", Object.class, d -> seen.add(d.event()));
        EventSourcing es = sourcing(Shows.showType(0));

        Committed opened = await(es.send("s-1", new OpenShow(2)));
        Committed reserved = await(es.send("s-1", new Reserve("ann", null, 0)));

        assertThat(opened.version()).isEqualTo(1);
        assertThat(reserved.version()).isEqualTo(2);
        assertThat(reserved.events()).containsExactly(new Shows.Reserved("ann"));
        StreamState<Show> state = es.load(Shows.showType(0), "s-1");
        assertThat(state.version()).isEqualTo(2);
        assertThat(state.state().holders()).containsExactly("ann");
        List<RecordedEvent> stored = store.load("show:s-1", 0, 100);
        assertThat(stored).extracting(RecordedEvent::version).containsExactly(1L, 2L);
        assertThat(stored).extracting(RecordedEvent::type).containsExactly("show.opened", "show.reserved");
        assertThat(store.info("show:s-1").orElseThrow().version()).isEqualTo(2);
        // The same events, with the same ids, ordered by their stream, reach Keel's subscribers.
        eventually(() -> seen.size() == 2);
        assertThat(seen)
                .extracting(Event::id)
                .containsExactly(stored.get(0).eventId(), stored.get(1).eventId());
        assertThat(seen).extracting(Event::partitionKey).containsOnly("show:s-1");
    }

    @Test
    void aRejectionAppendsNothingAndSaysWhy() throws Exception {
        EventSourcing es = sourcing(Shows.showType(0));
        await(es.send("s-1", new OpenShow(1)));
        await(es.send("s-1", new Reserve("ann", null, 0)));

        Throwable t = failure(es.send("s-1", new Reserve("bob", null, 0)));

        assertThat(t).isInstanceOf(CommandRejectedException.class);
        assertThat(((CommandRejectedException) t).rejection().code()).isEqualTo("sold-out");
        assertThat(store.info("show:s-1").orElseThrow().version()).isEqualTo(2);
    }

    @Test
    void anAppendAtAnotherVersionIsATypedConflictThatStoresNothing() throws Exception {
        await(appendRaw("show:c", ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":1}")));

        Throwable t = failure(appendRaw("show:c", ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":9}")));

        assertThat(t).isInstanceOf(StreamConflictException.class);
        StreamConflictException c = (StreamConflictException) t;
        assertThat(c.expected()).isEqualTo(ExpectedVersion.none());
        assertThat(c.actual()).isEqualTo(1);
        assertThat(store.load("show:c", 0, 10)).hasSize(1);
        assertThat(await(appendRaw("show:c", ExpectedVersion.any(), raw("show.reserved", 1, "{\"holder\":\"x\"}"))))
                .isEqualTo(2);
        EventSourcing es = sourcing(Shows.showType(0));
        Throwable stale = failure(es.send("c", new Reserve("y", null, 0), ExpectedVersion.exactly(1)));
        assertThat(stale).isInstanceOf(StreamConflictException.class);
        assertThat(((StreamConflictException) stale).actual()).isEqualTo(2);
    }

    @Test
    void aStreamWhoseIdTheDatabaseStoresDifferentlyKeepsItsVersions() throws Exception {
        String stream = "show:odd-\uD800-id"; // a lone surrogate: stored as '?' by the database
        assertThat(await(appendRaw(stream, ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":1}"))))
                .isEqualTo(1);
        assertThat(await(appendRaw(stream, ExpectedVersion.exactly(1), raw("show.reserved", 1, "{\"holder\":\"x\"}"))))
                .isEqualTo(2);
        assertThat(failure(appendRaw(stream, ExpectedVersion.exactly(1), raw("show.reserved", 1, "{}"))))
                .isInstanceOf(StreamConflictException.class);
    }

    @Test
    void appendsToManyStreamsAtOnceEachCommitOrFailOnTheirOwn() throws Exception {
        await(appendRaw("show:taken", ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":1}")));
        List<CompletableFuture<Long>> appends = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            // Every tenth goes to the stream that exists already, expecting none: those alone fail.
            String stream = i % 10 == 0 ? "show:taken" : "show:free-" + i;
            appends.add(appendRaw(stream, ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":1}")));
        }
        int failed = 0;
        for (int i = 0; i < appends.size(); i++) {
            if (i % 10 == 0) {
                assertThat(failure(appends.get(i))).isInstanceOf(StreamConflictException.class);
                failed++;
            } else {
                assertThat(await(appends.get(i))).isEqualTo(1);
                assertThat(store.load("show:free-" + i, 0, 10)).hasSize(1);
            }
        }
        assertThat(failed).isEqualTo(20);
        assertThat(store.load("show:taken", 0, 10)).hasSize(1);
    }

    @Test
    void ofAHundredConcurrentReservationsOfTheLastSeatExactlyOneSucceeds() throws Exception {
        EventSourcing first = sourcing(Shows.showType(0));
        // A second runtime with a cache of its own, never retrying: it meets conflicts, as another instance would.
        EventSourcing second = sourcing(b -> b.carryCommands(false).retriesOnConflict(0), Shows.showType(0));
        await(first.send("last", new OpenShow(1)));
        await(second.send("last", new OpenShow(1))); // a repeat: changes nothing

        List<CompletableFuture<Committed>> tries = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            EventSourcing es = i % 2 == 0 ? first : second;
            tries.add(es.send("last", new Reserve("h" + i, null, 0)));
        }
        int won = 0;
        int rejected = 0;
        int conflicted = 0;
        for (CompletableFuture<Committed> t : tries) {
            try {
                await(t);
                won++;
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof CommandRejectedException r) {
                    assertThat(r.rejection().code()).isEqualTo("sold-out");
                    rejected++;
                } else if (e.getCause() instanceof StreamConflictException) {
                    conflicted++;
                } else {
                    throw e;
                }
            }
        }
        assertThat(won).isEqualTo(1);
        assertThat(rejected + conflicted).isEqualTo(99);
        assertThat(store.load("show:last", 0, 10)).hasSize(2);
    }

    @Test
    void commandsToOneStreamAreAppliedInTheOrderSent() throws Exception {
        EventSourcing es = sourcing(Shows.showType(0));
        await(es.send("big", new OpenShow(1_000)));
        List<CompletableFuture<Committed>> sent = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            sent.add(es.send("big", new Reserve("h" + i, null, 0)));
        }
        for (int i = 0; i < sent.size(); i++) {
            assertThat(await(sent.get(i)).version()).isEqualTo(i + 2);
        }
        List<String> holders = es.load(Shows.showType(0), "big").state().holders();
        for (int i = 0; i < 300; i++) {
            assertThat(holders.get(i)).isEqualTo("h" + i);
        }
    }

    @Test
    void aStaleCacheNeverWins() throws Exception {
        EventSourcing cached = sourcing(Shows.showType(0));
        await(cached.send("s", new OpenShow(1)));
        // Another writer takes the seat behind the cache's back.
        await(appendRaw("show:s", ExpectedVersion.exactly(1), raw("show.reserved", 1, "{\"holder\":\"other\"}")));

        Throwable t = failure(cached.send("s", new Reserve("me", null, 0)));

        assertThat(t).isInstanceOf(CommandRejectedException.class);
        assertThat(cached.load(Shows.showType(0), "s").state().holders()).containsExactly("other");
    }

    @Test
    void aCommandSentOnceByIdIsAppliedOnce() throws Exception {
        EventSourcing es = sourcing(Shows.showType(0), Shows.ledgerType());
        Committed first = await(es.sendOnce("cmd-1", "l-1", new Charge("ann", 500)));
        Committed again = await(es.sendOnce("cmd-1", "l-1", new Charge("ann", 500)));

        assertThat(first.repeated()).isFalse();
        assertThat(again.repeated()).isTrue();
        assertThat(again.version()).isEqualTo(first.version());
        assertThat(es.load(Shows.ledgerType(), "l-1").state()).isEqualTo(new Ledger(500, 1));
        assertThat(store.appliedCommand("cmd-1").orElseThrow().version()).isEqualTo(1);

        // Pruned (past the retention), the id is forgotten: the command would be decided again.
        assertThat(store.pruneCommands(Instant.now().minusSeconds(3_600))).isZero();
        assertThat(store.pruneCommands(Instant.now().plusSeconds(1))).isEqualTo(1);
        assertThat(store.appliedCommand("cmd-1")).isEmpty();
    }

    @Test
    void aCommandWithAnIdThatWasRejectedIsNotDecidedAgain() throws Exception {
        EventSourcing es = sourcing(Shows.showType(0));
        await(es.send("s", new OpenShow(1)));
        await(es.send("s", new Reserve("ann", null, 0)));
        assertThat(failure(es.sendOnce("late-1", "s", new Reserve("bob", null, 0))))
                .isInstanceOf(CommandRejectedException.class);

        // The same command again gets the same answer, from the record of its id, not from a new decision.
        Throwable again = failure(es.sendOnce("late-1", "s", new Reserve("bob", null, 0)));

        assertThat(again).isInstanceOf(CommandRejectedException.class);
        assertThat(((CommandRejectedException) again).rejection().code()).isEqualTo("sold-out");
        assertThat(store.appliedCommand("late-1").orElseThrow().rejection().code())
                .isEqualTo("sold-out");
        assertThat(store.info("show:s").orElseThrow().version()).isEqualTo(2);
    }

    @Test
    void aCommandOfNoRegisteredTypeIsATypedError() {
        EventSourcing es = sourcing(Shows.showType(0));
        assertThatThrownBy(() -> es.send("l-1", new Charge("ann", 1)))
                .isInstanceOf(UnknownStreamTypeException.class)
                .hasMessageContaining(Charge.class.getName());
    }

    // ---- effects ----

    @Test
    void effectsRunAfterTheCommitOnceEach() throws Exception {
        ConcurrentLinkedQueue<Event<?>> notices = new ConcurrentLinkedQueue<>();
        keel.on("notices", "show.notice", String.class, d -> notices.add(d.event()));
        EventSourcing es = sourcing(Shows.showType(0), Shows.ledgerType());
        await(es.send("s-1", new OpenShow(5)));

        Committed c = await(es.send("s-1", new Reserve("ann", "book", 4200)));
        await(es.send("s-1", new Reserve("bob", "book", 1000)));

        eventually(() -> es.load(Shows.ledgerType(), "book").version() == 2);
        assertThat(es.load(Shows.ledgerType(), "book").state()).isEqualTo(new Ledger(5200, 2));
        eventually(() -> notices.size() == 2);
        assertThat(notices).extracting(Event::partitionKey).containsExactlyInAnyOrder("ann", "bob");
        // An effect is caused by the events that record why it is wanted.
        List<String> reserved = store.load("show:s-1", 0, 10).stream()
                .filter(e -> e.type().equals("show.reserved"))
                .map(RecordedEvent::eventId)
                .toList();
        assertThat(notices).extracting(Event::causationId).containsExactlyInAnyOrderElementsOf(reserved);
        RecordedEvent charged = store.load("ledger:book", 0, 1).getFirst();
        assertThat(charged.metadata()).containsKey("command");
        assertThat(store.appliedCommand(charged.metadata().get("command"))
                        .orElseThrow()
                        .version())
                .isEqualTo(1);
        assertThat(c.version()).isEqualTo(2);
    }

    @Test
    void aLoopOfCommandsIsStoppedByTheCausationDepthLimit() throws Exception {
        // Every charge sends another charge to the same ledger: without loop protection, for ever.
        Decider<Shows.LedgerCommand, Ledger, Shows.LedgerEvent> echo = Decider.of(
                Shows.LEDGER.initialState(),
                (c, s) -> switch (c) {
                    case Charge ch ->
                        Decision.<Shows.LedgerEvent>accept(new Shows.Charged(ch.holder(), ch.cents()))
                                .withEffects(Effect.send("echo", new Charge(ch.holder(), ch.cents())));
                },
                Shows.LEDGER::evolve);
        EventSourcing es =
                sourcing(AggregateType.builder("ledger", echo, Shows.LedgerCommand.class, Shows.LedgerEvent.class)
                        .build());

        await(es.send("echo", new Charge("x", 1)));

        // Each hop is two causation steps (the event, then the command it sends): the chain stops well before
        // the runtime's depth limit lets it go on, and the carried command that would pass it fails instead.
        long[] seen = new long[1];
        eventually(() -> {
            long now = es.load(Shows.ledgerType(), "echo").version();
            boolean still = now == seen[0] && now > 1;
            seen[0] = now;
            if (!still) {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return still;
        });
        assertThat(seen[0]).isBetween(2L, (long) Keel.Builder.DEFAULT_MAX_DEPTH);
    }

    @Test
    void aScheduledCommandIsDeliveredWhenDue() throws Exception {
        Decider<Shows.ShowCommand, Show, Shows.ShowEvent> withTimer = Decider.of(
                Shows.SHOW.initialState(),
                (c, s) -> {
                    Decision<Shows.ShowEvent> d = Shows.SHOW.decide(c, s);
                    if (c instanceof OpenShow && d instanceof Decision.Accepted<Shows.ShowEvent> a) {
                        return a.withEffects(Effect.schedule("later", new Charge("timer", 1), Duration.ofMillis(300)));
                    }
                    return d;
                },
                Shows.SHOW::evolve);
        AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> delayed = AggregateType.builder(
                        "show", withTimer, Shows.ShowCommand.class, Shows.ShowEvent.class)
                .build();
        EventSourcing es = sourcing(delayed, Shows.ledgerType());
        Instant sent = Instant.now();
        await(es.send("s-1", new OpenShow(1)));

        eventually(() -> es.load(Shows.ledgerType(), "later").version() == 1);
        RecordedEvent fired = store.load("ledger:later", 0, 1).getFirst();
        assertThat(fired.recordedAt()).isAfterOrEqualTo(sent.plusMillis(250));
    }

    // ---- sagas ----

    @Test
    void aSagaTimeoutFiresOnlyInTheStateThatExpectsItAndItsCompensationRunsOnce() throws Exception {
        Saga<Shows.WatchState, Shows.WatchEvent> watch = Shows.watchSaga(Duration.ofMillis(400));
        EventSourcing es = sourcing(b -> b.saga(watch), Shows.ledgerType());

        await(es.send("l-1", new Charge("ann", 700)));
        await(es.send("l-1", new Charge("bob", 300)));
        eventually(() -> es.load(watch.type(), "bob").state() instanceof Shows.Active);
        // A manual stop before bob's timeout: when it fires, it finds a state that does not expect it.
        await(es.send("bob", new Shows.StopWatching("bob")));

        eventually(() -> es.load(watch.type(), "ann").state() instanceof Shows.Refunded);
        eventually(() -> es.load(Shows.ledgerType(), "refunds").version() == 1);
        Thread.sleep(800); // past bob's timeout
        assertThat(es.load(watch.type(), "bob").state()).isEqualTo(new Shows.Ended("bob"));
        // bob's timeout was applied (recorded, so never decided again) and changed nothing.
        assertThat(es.load(watch.type(), "bob").version()).isEqualTo(2);
        assertThat(es.load(Shows.ledgerType(), "refunds").state()).isEqualTo(new Ledger(-700, 1));
        assertThat(es.labels(watch.type())).containsEntry("Refunded", 1L).containsEntry("Ended", 1L);
    }

    @Test
    void aSagaAppliesEachObservedEventOnceHoweverOftenItIsDelivered() throws Exception {
        Saga<Shows.WatchState, Shows.WatchEvent> watch = Shows.watchSaga(Duration.ofHours(1));
        io.micrometer.core.instrument.simple.SimpleMeterRegistry meters =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        EventSourcing es = sourcing(b -> b.saga(watch).meterRegistry(meters), Shows.ledgerType());
        await(es.send("l-1", new Charge("cid", 100)));
        eventually(() -> es.load(watch.type(), "cid").version() == 1);
        RecordedEvent charged = store.load("ledger:l-1", 0, 1).getFirst();

        ConcurrentLinkedQueue<String> redelivered = new ConcurrentLinkedQueue<>();
        keel.on(
                "redelivered",
                "ledger.charged",
                Object.class,
                d -> redelivered.add(d.event().id()));

        // The same event in the log again (as a redelivery after a crash before the cursor moved would give
        // it): the saga finds it applied, by its id, and does nothing.
        Event<Object> same = Event.builder("ledger.charged", (Object) Map.of("holder", "cid", "cents", 100))
                .id(charged.eventId())
                .key("ledger:l-1")
                .build();
        await(store.append(
                new StreamWrite(
                        "show:carrier",
                        "show",
                        ExpectedVersion.any(),
                        List.of(raw("show.opened", 1, "{}")),
                        null,
                        null,
                        null),
                through -> keel.emitThrough(List.of(same), through)));
        eventually(() -> redelivered.contains(charged.eventId()));
        // The saga answered it from the record of its id, without deciding again.
        eventually(() -> {
            io.micrometer.core.instrument.Timer repeats = meters.find("keel.es.commands")
                    .tag("aggregate", "watch")
                    .tag("outcome", "repeated")
                    .timer();
            return repeats != null && repeats.count() == 1;
        });
        assertThat(es.load(watch.type(), "cid").version()).isEqualTo(1);
        assertThat(store.appliedCommand("watch:" + charged.eventId())
                        .orElseThrow()
                        .version())
                .isEqualTo(1);
    }

    // ---- snapshots, upcasters, bad data ----

    @Test
    void snapshotsServeLoadsAndAreIgnoredWhenTheyNoLongerRead() throws Exception {
        AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> type = Shows.showType(3);
        EventSourcing es = sourcing(b -> b.cacheSize(0), type);
        await(es.send("s", new OpenShow(10)));
        for (int i = 0; i < 4; i++) {
            await(es.send("s", new Reserve("h" + i, null, 0)));
        }
        Snapshot snapshot = store.snapshot("show:s").orElseThrow();
        assertThat(snapshot.version()).isEqualTo(3);
        assertThat(es.load(type, "s").state().holders()).containsExactly("h0", "h1", "h2", "h3");

        // A snapshot that no longer reads is ignored, and the state is folded from the events.
        store.saveSnapshot(new Snapshot(
                "show:s", 4, Show.class.getName(), 1, "{not json".getBytes(StandardCharsets.UTF_8), Instant.now()));
        assertThat(es.load(type, "s").state().holders()).containsExactly("h0", "h1", "h2", "h3");
        assertThat(es.load(type, "s").version()).isEqualTo(5);
        // Deleting it is safe.
        assertThat(store.deleteSnapshot("show:s")).isTrue();
        assertThat(es.load(type, "s").state().holders()).hasSize(4);
        assertThat(await(es.send("s", new Reserve("h4", null, 0))).version()).isEqualTo(6);
    }

    @Test
    void upcastersReadOldRevisionsAndOneThatThrowsFailsTheCommandWhole() throws Exception {
        // Revision 1 of show.reserved named its holder "who".
        await(appendRaw("show:old", ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":5}")));
        await(appendRaw("show:old", ExpectedVersion.exactly(1), raw("show.reserved", 1, "{\"who\":\"ann\"}")));
        AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> upcasting = upcastingShows();
        EventSourcing es = sourcing(upcasting);

        assertThat(es.load(upcasting, "old").state().holders()).containsExactly("ann");
        Committed c = await(es.send("old", new Reserve("bob", null, 0)));
        assertThat(c.version()).isEqualTo(3);
        assertThat(store.load("show:old", 2, 1).getFirst().revision()).isEqualTo(2);

        AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> throwing = AggregateType.builder(
                        "show", Shows.SHOW, Shows.ShowCommand.class, Shows.ShowEvent.class)
                .upcaster("show.reserved", 1, json -> {
                    throw new IllegalStateException("cannot read this");
                })
                .build();
        opened.forEach(EventSourcing::close);
        keel.unsubscribe(EventSourcing.COMMAND_SUBSCRIPTION);
        EventSourcing broken = sourcing(throwing);
        Throwable t = failure(broken.send("old", new Reserve("cid", null, 0)));
        assertThat(t).isInstanceOf(EventDecodingException.class).hasMessageContaining("upcaster");
        assertThat(((EventDecodingException) t).version()).isEqualTo(2);
        assertThat(store.info("show:old").orElseThrow().version()).isEqualTo(3);
    }

    @Test
    void aSubscriberReadsAnOldEventThroughTheUpcasters() throws Exception {
        AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> upcasting = upcastingShows();
        EventSourcing es = sourcing(upcasting);
        ConcurrentLinkedQueue<Shows.Reserved> got = new ConcurrentLinkedQueue<>();
        keel.on("holders", "show.reserved", Object.class, es.handler(Shows.Reserved.class, d -> got.add(d.data())));

        // Revision 1 of show.reserved named its holder "who"; its log copy still does.
        NewEvent old = raw("show.reserved", 1, "{\"who\":\"ann\"}");
        Event<Object> published = Event.builder("show.reserved", (Object) Map.of("who", "ann"))
                .id(old.eventId())
                .source(EventSourcing.STREAMS_SOURCE + "show/aged")
                .subject("1")
                .key("show:aged")
                .build();
        await(store.append(
                new StreamWrite("show:aged", "show", ExpectedVersion.none(), List.of(old), null, null, null),
                through -> keel.emitThrough(List.of(published), through)));

        eventually(() -> !got.isEmpty());
        assertThat(got).containsExactly(new Shows.Reserved("ann"));
    }

    @Test
    void anEventThatDoesNotDeserializeIsATypedErrorAndNothingIsAppended() throws Exception {
        await(appendRaw("show:bad", ExpectedVersion.none(), raw("show.opened", 1, "{\"seats\":\"many\"}")));
        EventSourcing es = sourcing(Shows.showType(0));

        Throwable t = failure(es.send("bad", new Reserve("ann", null, 0)));

        assertThat(t).isInstanceOf(EventDecodingException.class);
        assertThat(((EventDecodingException) t).stream()).isEqualTo("show:bad");
        assertThat(store.info("show:bad").orElseThrow().version()).isEqualTo(1);
    }

    // ---- metadata and tombstones ----

    @Test
    void streamsKeepMetadataAndADeletedStreamRefusesAppends() throws Exception {
        EventSourcing es = sourcing(Shows.showType(0));
        await(es.send("gone", new OpenShow(1)));
        store.metadata("show:gone", Map.of("owner", "box-office"));
        assertThat(store.info("show:gone").orElseThrow().metadata()).containsEntry("owner", "box-office");
        assertThatThrownBy(() -> store.metadata("show:never", Map.of())).isInstanceOf(IllegalArgumentException.class);

        assertThatThrownBy(() -> store.delete("show:gone", ExpectedVersion.exactly(7)))
                .isInstanceOf(StreamConflictException.class);
        store.delete("show:gone", ExpectedVersion.exactly(1));

        assertThat(store.info("show:gone").orElseThrow().deleted()).isTrue();
        assertThat(store.load("show:gone", 0, 10)).isEmpty();
        Throwable t = failure(appendRaw("show:gone", ExpectedVersion.any(), raw("show.opened", 1, "{\"seats\":1}")));
        assertThat(t).isInstanceOf(StreamDeletedException.class);
        es.close();
        EventSourcing fresh = sourcing(b -> b.carryCommands(false), Shows.showType(0));
        assertThat(failure(fresh.send("gone", new OpenShow(2)))).isInstanceOf(StreamDeletedException.class);
    }

    /** The show type reading revision 1 of show.reserved, which named its holder "who". */
    private static AggregateType<Shows.ShowCommand, Show, Shows.ShowEvent> upcastingShows() {
        return AggregateType.builder("show", Shows.SHOW, Shows.ShowCommand.class, Shows.ShowEvent.class)
                .upcaster("show.reserved", 1, json -> {
                    ObjectNode o = ((ObjectNode) json).deepCopy();
                    o.set("holder", o.remove("who"));
                    return o;
                })
                .build();
    }

    /** Waits until the condition holds, up to the suite's wait. */
    private static void eventually(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the condition did not hold within " + WAIT);
            }
            Thread.sleep(20);
        }
    }

    /** Unwraps a completion failure, for subclasses' own tests. */
    protected static Throwable cause(Throwable t) {
        return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }
}
