package dev.keel.examples.checkout;

import dev.keel.Keel;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.Saga;
import dev.keel.eventsourcing.spi.EventStore;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import java.time.Duration;
import java.util.Map;

/** The checkout wiring: the four aggregate types and the saga, on a runtime and its journal's event store. */
public final class Checkout {
    /** The saga, with its payment timeout. */
    private final Saga<CheckoutSaga.State, CheckoutSaga.Event> saga;

    private final EventSourcing sourcing;

    private Checkout(EventSourcing sourcing, Saga<CheckoutSaga.State, CheckoutSaga.Event> saga) {
        this.sourcing = sourcing;
        this.saga = saga;
    }

    /** Registers the checkout on the runtime (started or not) and the event store in its journal's database. */
    public static Checkout on(Keel keel, EventStore store, Duration paymentTimeout, MeterRegistry meters) {
        return on(keel, store, paymentTimeout, meters, OpenTelemetry.noop());
    }

    /** As {@link #on(Keel, EventStore, Duration, MeterRegistry)}, with spans for every command and saga step. */
    public static Checkout on(
            Keel keel, EventStore store, Duration paymentTimeout, MeterRegistry meters, OpenTelemetry otel) {
        Saga<CheckoutSaga.State, CheckoutSaga.Event> saga = CheckoutSaga.saga(paymentTimeout);
        EventSourcing sourcing = EventSourcing.builder(keel, store)
                .register(Order.TYPE)
                .register(Payment.TYPE)
                .register(Inventory.TYPE)
                .register(Shipping.TYPE)
                .saga(saga)
                .meterRegistry(meters)
                .openTelemetry(otel)
                .build();
        return new Checkout(sourcing, saga);
    }

    /** Command handling, to send commands and load states. */
    public EventSourcing sourcing() {
        return sourcing;
    }

    /** The saga. */
    public Saga<CheckoutSaga.State, CheckoutSaga.Event> saga() {
        return saga;
    }

    /** How many checkouts are at each step. */
    public Map<String, Long> steps() {
        return sourcing.labels(saga.type());
    }

    /** The step of one order's checkout. */
    public CheckoutSaga.State step(String orderId) {
        return sourcing.load(saga.type(), orderId).state();
    }

    /** Whether every checkout is over (completed or cancelled). */
    public boolean allOver() {
        return steps().keySet().stream().allMatch(s -> s.equals("Completed") || s.equals("Cancelled"));
    }
}
