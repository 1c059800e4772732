package dev.keel.test.eventsourcing;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.Saga;
import java.util.ArrayList;
import java.util.List;

/**
 * The aggregates the event-sourcing contract runs: a show with seats (reserving one charges its holder on a
 * ledger, through an effect) and a ledger of charges.
 */
public final class Shows {
    private Shows() {}

    /** A show's commands. */
    public sealed interface ShowCommand permits OpenShow, Reserve {}

    /** Opens a show with this many seats. */
    public record OpenShow(int seats) implements ShowCommand {}

    /** Reserves a seat for a holder, who is charged the price on the ledger {@code ledger}. */
    public record Reserve(String holder, String ledger, long priceCents) implements ShowCommand {}

    /** A show's events. */
    public sealed interface ShowEvent permits Opened, Reserved {}

    /** The show opened. */
    public record Opened(int seats) implements ShowEvent {}

    /** A seat was reserved. */
    public record Reserved(String holder) implements ShowEvent {}

    /** A show: its seats and holders, in reservation order. */
    public record Show(int seats, List<String> holders, boolean open) {}

    /** The show decider: a full show rejects with {@code sold-out}. */
    public static final Decider<ShowCommand, Show, ShowEvent> SHOW = Decider.of(
            new Show(0, List.of(), false),
            (c, s) -> switch (c) {
                case OpenShow o when !s.open() -> Decision.<ShowEvent>accept(new Opened(o.seats()));
                case OpenShow o -> Decision.nothing();
                case Reserve r when !s.open() -> Decision.reject("not-open", "the show is not open");
                case Reserve r when s.holders().contains(r.holder()) -> Decision.nothing();
                case Reserve r
                when s.holders().size() >= s.seats() ->
                    Decision.reject("sold-out", "all " + s.seats() + " seats are taken");
                case Reserve r ->
                    r.ledger() == null
                            ? Decision.<ShowEvent>accept(new Reserved(r.holder()))
                            : Decision.<ShowEvent>accept(new Reserved(r.holder()))
                                    .withEffects(
                                            Effect.send(r.ledger(), new Charge(r.holder(), r.priceCents())),
                                            Effect.emit("show.notice", r.holder(), "seat for " + r.holder()));
            },
            (s, e) -> switch (e) {
                case Opened o -> new Show(o.seats(), List.of(), true);
                case Reserved r -> {
                    List<String> holders = new ArrayList<>(s.holders());
                    holders.add(r.holder());
                    yield new Show(s.seats(), List.copyOf(holders), true);
                }
            });

    /** A ledger's commands. */
    public sealed interface LedgerCommand permits Charge {}

    /** Charges a holder. */
    public record Charge(String holder, long cents) implements LedgerCommand {}

    /** A ledger's events. */
    public sealed interface LedgerEvent permits Charged {}

    /** A holder was charged. */
    public record Charged(String holder, long cents) implements LedgerEvent {}

    /** A ledger: the total charged and how many charges. */
    public record Ledger(long totalCents, int charges) {}

    /** The ledger decider: every charge is applied (a repeat is kept out by the command's id). */
    public static final Decider<LedgerCommand, Ledger, LedgerEvent> LEDGER = Decider.of(
            new Ledger(0, 0),
            (c, s) -> switch (c) {
                case Charge ch -> Decision.<LedgerEvent>accept(new Charged(ch.holder(), ch.cents()));
            },
            (s, e) -> switch (e) {
                case Charged ch -> new Ledger(s.totalCents() + ch.cents(), s.charges() + 1);
            });

    /** The commands of the watch saga: its timeout, and a manual stop. */
    public sealed interface WatchCommand permits Expire, StopWatching {}

    /** The watch's timeout. */
    public record Expire(String holder) implements WatchCommand {}

    /** Stops watching a holder. */
    public record StopWatching(String holder) implements WatchCommand {}

    /** The watch saga's events. */
    public sealed interface WatchEvent permits Watching, Expired, Stopped {}

    /** A charge is watched. */
    public record Watching(String holder, long cents) implements WatchEvent {}

    /** The watch expired; the charge is refunded. */
    public record Expired(String holder) implements WatchEvent {}

    /** The watch was stopped by hand. */
    public record Stopped(String holder) implements WatchEvent {}

    /** A watch's state. */
    public sealed interface WatchState permits Idle, Active, Refunded, Ended {}

    /** Nothing watched yet. */
    public record Idle() implements WatchState {}

    /** A charge watched. */
    public record Active(String holder, long cents) implements WatchState {}

    /** Expired, and refunded. */
    public record Refunded(String holder) implements WatchState {}

    /** Stopped by hand. */
    public record Ended(String holder) implements WatchState {}

    /**
     * The watch saga: a charge starts a watch that expires after {@code expireAfter} unless stopped; when it
     * expires, the charge is refunded (a negative charge on the ledger {@code refunds}). A timeout in any
     * state but {@link Active} does nothing.
     */
    public static Saga<WatchState, WatchEvent> watchSaga(java.time.Duration expireAfter) {
        Decider<Object, WatchState, WatchEvent> decider = Decider.of(
                new Idle(),
                (c, s) -> switch (c) {
                    case Charged ch
                    when s instanceof Idle ->
                        Decision.<WatchEvent>accept(new Watching(ch.holder(), ch.cents()))
                                .withEffects(Effect.schedule(ch.holder(), new Expire(ch.holder()), expireAfter));
                    case Charged ch -> Decision.nothing();
                    case Expire e
                    when s instanceof Active a ->
                        Decision.<WatchEvent>accept(new Expired(e.holder()))
                                .withEffects(Effect.send("refunds", new Charge(a.holder(), -a.cents())));
                    case Expire e -> Decision.nothing();
                    case StopWatching st
                    when s instanceof Active -> Decision.<WatchEvent>accept(new Stopped(st.holder()));
                    case StopWatching st -> Decision.nothing();
                    default ->
                        throw new dev.keel.eventsourcing.UnknownMessageException(
                                "command", c, Charged.class, WatchCommand.class);
                },
                (s, e) -> switch (e) {
                    case Watching w -> new Active(w.holder(), w.cents());
                    case Expired x -> new Refunded(x.holder());
                    case Stopped st -> new Ended(st.holder());
                });
        return Saga.builder("watch", decider, WatchCommand.class, WatchEvent.class)
                .on("ledger.charged", Charged.class, ch -> ch.cents() > 0 ? ch.holder() : null)
                .build();
    }

    /** The show type, with a snapshot every {@code snapshotEvery} events (0: none). */
    public static AggregateType<ShowCommand, Show, ShowEvent> showType(int snapshotEvery) {
        AggregateType.Builder<ShowCommand, Show, ShowEvent> b =
                AggregateType.builder("show", SHOW, ShowCommand.class, ShowEvent.class);
        if (snapshotEvery > 0) {
            b.snapshotEvery(snapshotEvery, Show.class);
        }
        return b.build();
    }

    /** The ledger type. */
    public static AggregateType<LedgerCommand, Ledger, LedgerEvent> ledgerType() {
        return AggregateType.builder("ledger", LEDGER, LedgerCommand.class, LedgerEvent.class)
                .build();
    }
}
