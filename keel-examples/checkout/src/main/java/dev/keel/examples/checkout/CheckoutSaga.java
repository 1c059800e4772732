package dev.keel.examples.checkout;

import dev.keel.eventsourcing.CommandRejected;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.Saga;
import dev.keel.eventsourcing.UnknownMessageException;
import java.time.Duration;

/**
 * The checkout saga, one instance per order: place order → charge → reserve → ship → complete.
 *
 * <ul>
 *   <li>payment declined → the order is cancelled;
 *   <li>insufficient stock → the charge is refunded, then the order cancelled (compensations newest first,
 *       each after the previous one's outcome);
 *   <li>no answer from payment within the timeout → the order is cancelled; a charge that arrives after that
 *       is refunded;
 *   <li>{@link Abandon} (a manual cancel) before the stock is reserved → the charge, if any, is refunded and the
 *       order cancelled; once shipping is under way it is refused ({@code too-late});
 *   <li>the order cancelled from outside the checkout → the charge, if any, is refunded;
 *   <li>stock reserved after the checkout began to be undone → released.
 * </ul>
 *
 * Its steps are the states below; each is a label of the meter {@code keel.es.saga.instances}.
 */
public final class CheckoutSaga {
    private CheckoutSaga() {}

    /** The saga's own commands: its timeout and a manual cancel. */
    public sealed interface Command permits PaymentTimedOut, Abandon {}

    /** The payment timeout of an order. */
    public record PaymentTimedOut(String orderId) implements Command {}

    /** Cancels a checkout by hand (an operator, a customer). */
    public record Abandon(String orderId, String reason) implements Command {}

    /** The saga's events: each step taken. */
    public sealed interface Event
            permits Started,
                    Paid,
                    Reserved,
                    Shipped,
                    Finished,
                    Compensating,
                    Refunded,
                    LateChargeReturned,
                    LateStockReturned {}

    /** The order was placed: charge it. */
    public record Started(String orderId, String sku, int quantity, long cents) implements Event {}

    /** The charge went through: reserve the stock. */
    public record Paid(String orderId) implements Event {}

    /** Stock is reserved: ship it. */
    public record Reserved(String orderId) implements Event {}

    /** Shipped: complete the order. */
    public record Shipped(String orderId) implements Event {}

    /** The order is completed or cancelled: the saga is over. */
    public record Finished(String orderId, boolean completed) implements Event {}

    /** Undoing what was done, because of {@code reason}; {@code refund} when the charge must be returned. */
    public record Compensating(String orderId, String reason, boolean refund, boolean orderCancelled)
            implements Event {}

    /** The charge was refunded: cancel the order. */
    public record Refunded(String orderId) implements Event {}

    /** A charge that came after the order was cancelled is being refunded; the step does not change. */
    public record LateChargeReturned(String orderId) implements Event {}

    /** Stock reserved after the checkout began to be undone is being released; the step does not change. */
    public record LateStockReturned(String orderId, String sku) implements Event {}

    /** The saga's state: its step. */
    public sealed interface State
            permits Idle,
                    AwaitingPayment,
                    AwaitingStock,
                    AwaitingShipment,
                    Completing,
                    RefundingPayment,
                    Cancelling,
                    Completed,
                    Cancelled {}

    /** Not started. */
    public record Idle() implements State {}

    /** Charge sent; the timeout runs. */
    public record AwaitingPayment(String orderId, String sku, int quantity) implements State {}

    /** Reservation sent. */
    public record AwaitingStock(String orderId, String sku, int quantity) implements State {}

    /** Shipment sent. */
    public record AwaitingShipment(String orderId) implements State {}

    /** Completion sent. */
    public record Completing(String orderId) implements State {}

    /** Refund sent (a compensation). */
    public record RefundingPayment(String orderId, String reason, boolean orderCancelled) implements State {}

    /** Cancellation sent. */
    public record Cancelling(String orderId, String reason) implements State {}

    /** Over: completed. */
    public record Completed(String orderId) implements State {}

    /** Over: cancelled (with any charge refunded). */
    public record Cancelled(String orderId, String reason) implements State {}

    /** The saga, whose payment timeout is {@code paymentTimeout}. */
    public static Saga<State, Event> saga(Duration paymentTimeout) {
        Decider<Object, State, Event> decider =
                Decider.of(new Idle(), (input, s) -> decide(input, s, paymentTimeout), CheckoutSaga::evolve);
        return Saga.builder("checkout", decider, Command.class, Event.class)
                .on("order.placed", Order.Placed.class, Order.Placed::orderId)
                .on("order.completed", Order.Completed.class, Order.Completed::orderId)
                .on("order.cancelled", Order.Cancelled.class, Order.Cancelled::orderId)
                .on("payment.charged", Payment.Charged.class, Payment.Charged::orderId)
                .on("payment.declined", Payment.Declined.class, Payment.Declined::orderId)
                .on("payment.refunded", Payment.Refunded.class, Payment.Refunded::orderId)
                .on("inventory.reserved", Inventory.Reserved.class, Inventory.Reserved::orderId)
                .on("inventory.shortfall", Inventory.Shortfall.class, Inventory.Shortfall::orderId)
                .on("shipping.shipped", Shipping.Shipped.class, Shipping.Shipped::orderId)
                // Refusals of the commands it sent to the aggregates keyed by the order's id.
                .on(
                        EventSourcing.REJECTED_TYPE,
                        CommandRejected.class,
                        r -> r.aggregate().equals("inventory") ? null : r.id())
                .build();
    }

    private static Decision<Event> decide(Object input, State s, Duration paymentTimeout) {
        return switch (input) {
            case Order.Placed p
            when s instanceof Idle ->
                Decision.<Event>accept(new Started(p.orderId(), p.sku(), p.quantity(), p.totalCents()))
                        .withEffects(
                                Effect.send(p.orderId(), new Payment.Charge(p.orderId(), p.totalCents(), p.card())),
                                Effect.schedule(p.orderId(), new PaymentTimedOut(p.orderId()), paymentTimeout));
            case Payment.Charged c
            when s instanceof AwaitingPayment a ->
                Decision.<Event>accept(new Paid(c.orderId()))
                        .withEffects(Effect.send(a.sku(), new Inventory.Reserve(a.sku(), a.orderId(), a.quantity())));
            case Payment.Charged c
            when s instanceof Cancelling || s instanceof Cancelled ->
                // The charge came after the order was cancelled (a timeout, a decline, from outside): give it back.
                Decision.<Event>accept(new LateChargeReturned(c.orderId()))
                        .withEffects(Effect.send(c.orderId(), new Payment.Refund(c.orderId())));
            case Payment.Declined d when s instanceof AwaitingPayment -> cancel(d.orderId(), "payment declined");
            case PaymentTimedOut t when s instanceof AwaitingPayment -> cancel(t.orderId(), "payment timed out");
            case Inventory.Reserved r
            when s instanceof AwaitingStock a ->
                Decision.<Event>accept(new Reserved(r.orderId()))
                        .withEffects(Effect.send(r.orderId(), new Shipping.Ship(r.orderId(), a.sku(), a.quantity())));
            case Inventory.Reserved r
            when s instanceof RefundingPayment || s instanceof Cancelling || s instanceof Cancelled ->
                // Reserved after the checkout began to be undone: give the stock back.
                Decision.<Event>accept(new LateStockReturned(r.orderId(), r.sku()))
                        .withEffects(Effect.send(r.sku(), new Inventory.Release(r.sku(), r.orderId())));
            case Inventory.Shortfall x when s instanceof AwaitingStock -> refund(x.orderId(), "insufficient stock");
            case Shipping.Shipped sh
            when s instanceof AwaitingShipment ->
                Decision.<Event>accept(new Shipped(sh.orderId()))
                        .withEffects(Effect.send(sh.orderId(), new Order.Complete(sh.orderId())));
            case Payment.Refunded r when s instanceof RefundingPayment rp -> refunded(r.orderId(), rp);
            case CommandRejected r
            when s instanceof RefundingPayment rp && r.command().equals("payment.refund") ->
                refunded(r.id(), rp); // nothing was charged: nothing to give back
            case Order.Completed k
            when s instanceof Completing -> Decision.<Event>accept(new Finished(k.orderId(), true));
            case Order.Cancelled x
            when s instanceof Cancelling -> Decision.<Event>accept(new Finished(x.orderId(), false));
            // Cancelled from outside the checkout: whatever was charged is given back.
            case Order.Cancelled x
            when s instanceof AwaitingPayment ->
                Decision.<Event>accept(new Compensating(x.orderId(), x.reason(), false, true));
            case Order.Cancelled x
            when s instanceof AwaitingStock || s instanceof AwaitingShipment || s instanceof Completing ->
                Decision.<Event>accept(new Compensating(x.orderId(), x.reason(), true, true))
                        .withEffects(Effect.send(x.orderId(), new Payment.Refund(x.orderId())));
            case Abandon a when s instanceof AwaitingPayment -> cancel(a.orderId(), a.reason());
            case Abandon a when s instanceof AwaitingStock -> refund(a.orderId(), a.reason());
            case Abandon a
            when s instanceof AwaitingShipment || s instanceof Completing ->
                Decision.reject("too-late", "order " + a.orderId() + " is being shipped");
            // Anything else comes in a state that does not expect it: a timeout after the payment, a repeat, an
            // event of a finished checkout. It changes nothing.
            case Order.Event e -> Decision.nothing();
            case Payment.Event e -> Decision.nothing();
            case Inventory.Event e -> Decision.nothing();
            case Shipping.Event e -> Decision.nothing();
            case Command c -> Decision.nothing();
            case CommandRejected r -> Decision.nothing();
            default ->
                throw new UnknownMessageException(
                        "input",
                        input,
                        Order.Event.class,
                        Payment.Event.class,
                        Inventory.Event.class,
                        Shipping.Event.class,
                        Command.class,
                        CommandRejected.class);
        };
    }

    private static State evolve(State s, Event e) {
        return switch (e) {
            case Started st -> new AwaitingPayment(st.orderId(), st.sku(), st.quantity());
            case Paid p -> s instanceof AwaitingPayment a ? new AwaitingStock(a.orderId(), a.sku(), a.quantity()) : s;
            case Reserved r -> new AwaitingShipment(r.orderId());
            case Shipped sh -> new Completing(sh.orderId());
            case Compensating c when c.refund() -> new RefundingPayment(c.orderId(), c.reason(), c.orderCancelled());
            case Compensating c when c.orderCancelled() -> new Cancelled(c.orderId(), c.reason());
            case Compensating c -> new Cancelling(c.orderId(), c.reason());
            case Refunded r -> s instanceof RefundingPayment rp ? new Cancelling(r.orderId(), rp.reason()) : s;
            case LateChargeReturned l -> s;
            case LateStockReturned l -> s;
            case Finished f when f.completed() -> new Completed(f.orderId());
            case Finished f -> new Cancelled(f.orderId(), s instanceof Cancelling c ? c.reason() : "cancelled");
        };
    }

    /** The refund is done: cancel the order, or, when it was cancelled already, the checkout is over. */
    private static Decision<Event> refunded(String orderId, RefundingPayment rp) {
        if (rp.orderCancelled()) {
            return Decision.<Event>accept(new Refunded(orderId), new Finished(orderId, false));
        }
        return Decision.<Event>accept(new Refunded(orderId))
                .withEffects(Effect.send(orderId, new Order.Cancel(orderId, rp.reason())));
    }

    private static Decision<Event> cancel(String orderId, String reason) {
        return Decision.<Event>accept(new Compensating(orderId, reason, false, false))
                .withEffects(Effect.send(orderId, new Order.Cancel(orderId, reason)));
    }

    private static Decision<Event> refund(String orderId, String reason) {
        return Decision.<Event>accept(new Compensating(orderId, reason, true, false))
                .withEffects(Effect.send(orderId, new Payment.Refund(orderId)));
    }
}
