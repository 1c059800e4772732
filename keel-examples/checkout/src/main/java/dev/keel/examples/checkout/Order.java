package dev.keel.examples.checkout;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;

/** The order aggregate: placed, then completed or cancelled, once. */
public final class Order {
    private Order() {}

    /** An order's commands. */
    public sealed interface Command permits Place, Complete, Cancel {}

    /** Places an order for {@code quantity} of {@code sku} at {@code totalCents}, paid with {@code card}. */
    public record Place(String orderId, String customer, String sku, int quantity, long totalCents, String card)
            implements Command {}

    /** Completes a placed order (it shipped). */
    public record Complete(String orderId) implements Command {}

    /** Cancels a placed order. */
    public record Cancel(String orderId, String reason) implements Command {}

    /** An order's events. */
    public sealed interface Event permits Placed, Completed, Cancelled {}

    /** The order was placed. */
    public record Placed(String orderId, String customer, String sku, int quantity, long totalCents, String card)
            implements Event {}

    /** The order shipped and is complete. */
    public record Completed(String orderId) implements Event {}

    /** The order was cancelled. */
    public record Cancelled(String orderId, String reason) implements Event {}

    /** An order's state. */
    public sealed interface State permits None, Open, Done, Voided {}

    /** No order yet. */
    public record None() implements State {}

    /** Placed, not yet finished. */
    public record Open(String orderId) implements State {}

    /** Completed. */
    public record Done(String orderId) implements State {}

    /** Cancelled. */
    public record Voided(String orderId, String reason) implements State {}

    static final Decider<Command, State, Event> DECIDER = Decider.of(
            new None(),
            (c, s) -> switch (c) {
                case Place p when p.quantity() < 1 -> Decision.reject("bad-quantity", "order at least one item");
                case Place p when p.totalCents() < 1 -> Decision.reject("bad-total", "an order costs something");
                case Place p
                when s instanceof None ->
                    Decision.<Event>accept(
                            new Placed(p.orderId(), p.customer(), p.sku(), p.quantity(), p.totalCents(), p.card()));
                case Place p -> Decision.reject("exists", "order " + p.orderId() + " was placed already");
                case Complete k when s instanceof Open -> Decision.<Event>accept(new Completed(k.orderId()));
                case Complete k when s instanceof Done -> Decision.nothing();
                case Complete k -> Decision.reject("not-open", "order " + k.orderId() + " is not open");
                case Cancel x when s instanceof Open -> Decision.<Event>accept(new Cancelled(x.orderId(), x.reason()));
                case Cancel x when s instanceof Voided -> Decision.nothing();
                case Cancel x -> Decision.reject("not-open", "order " + x.orderId() + " is not open");
            },
            (s, e) -> switch (e) {
                case Placed p -> new Open(p.orderId());
                case Completed k -> new Done(k.orderId());
                case Cancelled x -> new Voided(x.orderId(), x.reason());
            });

    /** The order type: events {@code order.placed}, {@code order.completed}, {@code order.cancelled}. */
    public static final AggregateType<Command, State, Event> TYPE =
            AggregateType.builder("order", DECIDER, Command.class, Event.class).build();
}
