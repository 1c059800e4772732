package dev.keel.eventsourcing;

import java.time.Duration;
import java.util.List;

/** An order aggregate for the tests: placed, paid or cancelled, with a payment timeout. */
final class Orders {
    private Orders() {}

    sealed interface Command permits Place, Pay, Cancel, PaymentTimedOut {}

    record Place(String orderId, long amountCents) implements Command {}

    record Pay(String orderId) implements Command {}

    record Cancel(String orderId, String why) implements Command {}

    record PaymentTimedOut(String orderId) implements Command {}

    sealed interface Happened permits Placed, Paid, Cancelled {}

    record Placed(String orderId, long amountCents) implements Happened {}

    record Paid(String orderId) implements Happened {}

    record Cancelled(String orderId, String why) implements Happened {}

    sealed interface State permits None, Open, Settled, Closed {}

    record None() implements State {}

    record Open(String orderId, long amountCents) implements State {}

    record Settled(String orderId) implements State {}

    record Closed(String orderId) implements State {}

    static final Duration PAYMENT_WINDOW = Duration.ofMinutes(15);

    static final Decider<Command, State, Happened> DECIDER = Decider.of(new None(), Orders::decide, Orders::evolve);

    static Decision<Happened> decide(Command c, State s) {
        return switch (c) {
            case Place p
            when s instanceof None -> {
                if (p.amountCents() <= 0) {
                    yield Decision.reject("invalid-amount", "an order needs a positive amount, not " + p.amountCents());
                }
                yield Decision.acceptAll(
                        List.of(new Placed(p.orderId(), p.amountCents())),
                        List.of(
                                Effect.schedule(p.orderId(), new PaymentTimedOut(p.orderId()), PAYMENT_WINDOW),
                                Effect.emit("order.placed", p.orderId(), p.amountCents())));
            }
            case Place p -> Decision.reject("already-placed", "order " + p.orderId() + " exists");
            case Pay p when s instanceof Open -> Decision.accept(new Paid(p.orderId()));
            case Pay p when s instanceof Settled -> Decision.nothing(); // paid already: a repeat changes nothing
            case Pay p -> Decision.reject("not-payable", "order " + p.orderId() + " is " + name(s));
            case Cancel x when s instanceof Open -> Decision.accept(new Cancelled(x.orderId(), x.why()));
            case Cancel x
            when s instanceof Settled ->
                Decision.<Happened>accept(new Cancelled(x.orderId(), x.why()))
                        .withEffects(Effect.send("payment-" + x.orderId(), "refund"));
            case Cancel x -> Decision.reject("not-cancellable", "order " + x.orderId() + " is " + name(s));
            // A timeout does something only in the state that expects it.
            case PaymentTimedOut t when s instanceof Open -> Decision.accept(new Cancelled(t.orderId(), "not paid"));
            case PaymentTimedOut t -> Decision.nothing();
        };
    }

    static State evolve(State s, Happened e) {
        return switch (e) {
            case Placed p -> new Open(p.orderId(), p.amountCents());
            case Paid p -> new Settled(p.orderId());
            case Cancelled x -> new Closed(x.orderId());
        };
    }

    private static String name(State s) {
        return s.getClass().getSimpleName().toLowerCase();
    }
}
