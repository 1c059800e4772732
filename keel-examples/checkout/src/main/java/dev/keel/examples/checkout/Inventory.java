package dev.keel.examples.checkout;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import java.util.HashSet;
import java.util.Set;

/**
 * The stock of one product (its stream is the SKU). A reservation that finds too little stock is recorded as
 * {@link Shortfall}, not rejected: the checkout saga must learn of it to compensate. A reservation is made once
 * per order, however often it is asked for.
 */
public final class Inventory {
    private Inventory() {}

    /** An item's commands. */
    public sealed interface Command permits Restock, Reserve {}

    /** Adds stock. */
    public record Restock(String sku, int quantity) implements Command {}

    /** Reserves stock for an order. */
    public record Reserve(String sku, String orderId, int quantity) implements Command {}

    /** An item's events. */
    public sealed interface Event permits Restocked, Reserved, Shortfall {}

    /** Stock was added. */
    public record Restocked(String sku, int quantity) implements Event {}

    /** Stock was reserved for an order. */
    public record Reserved(String sku, String orderId, int quantity) implements Event {}

    /** An order asked for more than is left. */
    public record Shortfall(String sku, String orderId, int wanted, int left) implements Event {}

    /** What is left, and the orders answered (reserved or short). */
    public record Stock(int left, Set<String> answered) {}

    static final Decider<Command, Stock, Event> DECIDER = Decider.of(
            new Stock(0, Set.of()),
            (c, s) -> switch (c) {
                case Restock r when r.quantity() < 1 -> Decision.reject("bad-quantity", "restock at least one");
                case Restock r -> Decision.<Event>accept(new Restocked(r.sku(), r.quantity()));
                case Reserve r when s.answered().contains(r.orderId()) -> Decision.nothing();
                case Reserve r
                when r.quantity() > s.left() ->
                    Decision.<Event>accept(new Shortfall(r.sku(), r.orderId(), r.quantity(), s.left()));
                case Reserve r -> Decision.<Event>accept(new Reserved(r.sku(), r.orderId(), r.quantity()));
            },
            (s, e) -> switch (e) {
                case Restocked r -> new Stock(s.left() + r.quantity(), s.answered());
                case Reserved r -> new Stock(s.left() - r.quantity(), with(s.answered(), r.orderId()));
                case Shortfall x -> new Stock(s.left(), with(s.answered(), x.orderId()));
            });

    private static Set<String> with(Set<String> set, String value) {
        Set<String> more = new HashSet<>(set);
        more.add(value);
        return Set.copyOf(more);
    }

    /**
     * The inventory type: events {@code inventory.restocked}, {@code inventory.reserved}, {@code
     * inventory.short}; a snapshot every 100 events, as a busy product's stream grows long.
     */
    public static final AggregateType<Command, Stock, Event> TYPE = AggregateType.builder(
                    "inventory", DECIDER, Command.class, Event.class)
            .snapshotEvery(100, Stock.class)
            .build();
}
