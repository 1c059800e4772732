package dev.keel.examples.checkout;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;

/** The shipment of one order (its stream is the order's id): shipped once. */
public final class Shipping {
    private Shipping() {}

    /** A shipment's commands. */
    public sealed interface Command permits Ship {}

    /** Ships an order's items. */
    public record Ship(String orderId, String sku, int quantity) implements Command {}

    /** A shipment's events. */
    public sealed interface Event permits Shipped {}

    /** The order left the warehouse. */
    public record Shipped(String orderId, String tracking) implements Event {}

    /** Whether it shipped. */
    public record Shipment(String tracking) {}

    static final Decider<Command, Shipment, Event> DECIDER = Decider.of(
            new Shipment(null),
            (c, s) -> switch (c) {
                case Ship sh when s.tracking() != null -> Decision.nothing();
                case Ship sh -> Decision.<Event>accept(new Shipped(sh.orderId(), "TRK-" + sh.orderId()));
            },
            (s, e) -> switch (e) {
                case Shipped sh -> new Shipment(sh.tracking());
            });

    /** The shipping type: event {@code shipping.shipped}. */
    public static final AggregateType<Command, Shipment, Event> TYPE = AggregateType.builder(
                    "shipping", DECIDER, Command.class, Event.class)
            .build();
}
