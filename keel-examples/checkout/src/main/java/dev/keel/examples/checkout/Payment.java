package dev.keel.examples.checkout;

import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;

/**
 * The payment of one order (its stream is the order's id): charged at most once, refunded at most once. The
 * card decides the answer, standing in for a payment provider: {@code declined} is declined, {@code silent}
 * never answers (the saga's timeout cancels the order), any other card is charged.
 */
public final class Payment {
    private Payment() {}

    /** A payment's commands. */
    public sealed interface Command permits Charge, Refund {}

    /** Charges the order's total to the card. */
    public record Charge(String orderId, long cents, String card) implements Command {}

    /** Refunds what was charged. */
    public record Refund(String orderId) implements Command {}

    /** A payment's events. */
    public sealed interface Event permits Charged, Declined, Refunded {}

    /** The card was charged. */
    public record Charged(String orderId, long cents) implements Event {}

    /** The card was declined. */
    public record Declined(String orderId, String reason) implements Event {}

    /** The charge was refunded. */
    public record Refunded(String orderId, long cents) implements Event {}

    /** A payment's state. */
    public sealed interface State permits Unpaid, Paid, Refused, Returned {}

    /** Nothing charged. */
    public record Unpaid() implements State {}

    /** Charged. */
    public record Paid(long cents) implements State {}

    /** Declined. */
    public record Refused() implements State {}

    /** Refunded. */
    public record Returned(long cents) implements State {}

    static final Decider<Command, State, Event> DECIDER = Decider.of(
            new Unpaid(),
            (c, s) -> switch (c) {
                case Charge ch when !(s instanceof Unpaid) -> Decision.nothing(); // never charged twice
                case Charge ch when "silent".equals(ch.card()) -> Decision.nothing();
                case Charge ch
                when "declined".equals(ch.card()) ->
                    Decision.<Event>accept(new Declined(ch.orderId(), "the card was declined"));
                case Charge ch -> Decision.<Event>accept(new Charged(ch.orderId(), ch.cents()));
                case Refund r when s instanceof Paid p -> Decision.<Event>accept(new Refunded(r.orderId(), p.cents()));
                case Refund r when s instanceof Returned -> Decision.nothing(); // never refunded twice
                case Refund r -> Decision.reject("not-charged", "order " + r.orderId() + " was not charged");
            },
            (s, e) -> switch (e) {
                case Charged ch -> new Paid(ch.cents());
                case Declined d -> new Refused();
                case Refunded r -> new Returned(r.cents());
            });

    /** The payment type: events {@code payment.charged}, {@code payment.declined}, {@code payment.refunded}. */
    public static final AggregateType<Command, State, Event> TYPE = AggregateType.builder(
                    "payment", DECIDER, Command.class, Event.class)
            .build();
}
