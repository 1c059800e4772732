package dev.keel.examples.checkout;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * The stock of one product (its stream is the SKU). A reservation that finds too little stock is recorded as
 * {@link Shortfall}, not rejected: the checkout saga must learn of it to compensate. A reservation is made once
 * per order, however often it is asked for.
 */
public final class Inventory {
    private Inventory() {}

    /** An item's commands. */
    public sealed interface Command permits Restock, Reserve, Release {}

    /** Adds stock. */
    public record Restock(String sku, int quantity) implements Command {}

    /** Reserves stock for an order. */
    public record Reserve(String sku, String orderId, int quantity) implements Command {}

    /** Gives back what an order reserved (its checkout was cancelled). */
    public record Release(String sku, String orderId) implements Command {}

    /** An item's events. */
    public sealed interface Event permits Restocked, Reserved, Shortfall, Released {}

    /** Stock was added. */
    public record Restocked(String sku, int quantity) implements Event {}

    /** Stock was reserved for an order. */
    public record Reserved(String sku, String orderId, int quantity) implements Event {}

    /** An order asked for more than is left. */
    public record Shortfall(String sku, String orderId, int wanted, int left) implements Event {}

    /** An order's reservation was given back. */
    public record Released(String sku, String orderId, int quantity) implements Event {}

    /** What is left, the orders answered (reserved or short), and what each order holds. */
    public record Stock(int left, Set<String> answered, Map<String, Integer> held) {}

    static final Decider<Command, Stock, Event> DECIDER = Decider.of(
            new Stock(0, Set.of(), Map.of()),
            (c, s) -> switch (c) {
                case Restock r when r.quantity() < 1 -> Decision.reject("bad-quantity", "restock at least one");
                case Restock r -> Decision.<Event>accept(new Restocked(r.sku(), r.quantity()));
                case Reserve r when s.answered().contains(r.orderId()) -> Decision.nothing();
                case Reserve r
                when r.quantity() > s.left() ->
                    Decision.<Event>accept(new Shortfall(r.sku(), r.orderId(), r.quantity(), s.left()));
                case Reserve r -> Decision.<Event>accept(new Reserved(r.sku(), r.orderId(), r.quantity()));
                case Release r
                when s.held().containsKey(r.orderId()) ->
                    Decision.<Event>accept(
                            new Released(r.sku(), r.orderId(), s.held().get(r.orderId())));
                case Release r -> Decision.nothing(); // nothing held: released before, or never reserved
            },
            (s, e) -> switch (e) {
                case Restocked r -> new Stock(s.left() + r.quantity(), s.answered(), s.held());
                case Reserved r ->
                    new Stock(
                            s.left() - r.quantity(),
                            with(s.answered(), r.orderId()),
                            holding(s.held(), r.orderId(), r.quantity()));
                case Shortfall x -> new Stock(s.left(), with(s.answered(), x.orderId()), s.held());
                case Released r -> new Stock(s.left() + r.quantity(), s.answered(), holding(s.held(), r.orderId(), 0));
            });

    private static Map<String, Integer> holding(Map<String, Integer> held, String orderId, int quantity) {
        Map<String, Integer> next = new HashMap<>(held);
        if (quantity == 0) {
            next.remove(orderId);
        } else {
            next.put(orderId, quantity);
        }
        return Map.copyOf(next);
    }

    private static Set<String> with(Set<String> set, String value) {
        Set<String> more = new HashSet<>(set);
        more.add(value);
        return Set.copyOf(more);
    }

    /**
     * The inventory type: events {@code inventory.restocked}, {@code inventory.reserved}, {@code
     * inventory.shortfall}, {@code inventory.released}; a snapshot every 100 events, as a busy product's stream grows long.
     */
    public static final AggregateType<Command, Stock, Event> TYPE = AggregateType.builder(
                    "inventory", DECIDER, Command.class, Event.class)
            .snapshotEvery(100, Stock.class)
            .build();
}
