package dev.keel.eventsourcing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.eventsourcing.Orders.Cancel;
import dev.keel.eventsourcing.Orders.Cancelled;
import dev.keel.eventsourcing.Orders.Closed;
import dev.keel.eventsourcing.Orders.Open;
import dev.keel.eventsourcing.Orders.Paid;
import dev.keel.eventsourcing.Orders.Pay;
import dev.keel.eventsourcing.Orders.PaymentTimedOut;
import dev.keel.eventsourcing.Orders.Place;
import dev.keel.eventsourcing.Orders.Placed;
import dev.keel.eventsourcing.Orders.Settled;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeciderTest {
    private final Decider<Orders.Command, Orders.State, Orders.Happened> orders = Orders.DECIDER;

    @Test
    void shouldDecideEventsAndEffectsAndFoldThemIntoTheState() {
        Decision<Orders.Happened> placed = orders.decide(new Place("o-1", 4200), orders.initialState());

        assertThat(placed.accepted()).isTrue();
        assertThat(placed.events()).containsExactly(new Placed("o-1", 4200));
        assertThat(placed.effects()).hasSize(2);
        assertThat(placed.effects().getFirst())
                .isEqualTo(Effect.schedule("o-1", new PaymentTimedOut("o-1"), Duration.ofMinutes(15)));
        assertThat(placed.effects().get(1)).isEqualTo(Effect.emit("order.placed", "o-1", 4200L));
        // Deciding again decides the same: effects carry no ids or clocks of their own.
        assertThat(orders.decide(new Place("o-1", 4200), orders.initialState())).isEqualTo(placed);

        Orders.State open = orders.fold(placed.events());
        assertThat(open).isEqualTo(new Open("o-1", 4200));
        assertThat(orders.fold(List.of(new Placed("o-1", 4200), new Paid("o-1"))))
                .isEqualTo(new Settled("o-1"));
    }

    @Test
    void shouldRejectWithACodeAndMessageAndCarryNothingOut() {
        Decision<Orders.Happened> d = orders.decide(new Pay("o-1"), orders.initialState());

        assertThat(d.accepted()).isFalse();
        assertThat(d.rejected()).hasValueSatisfying(r -> {
            assertThat(r.code()).isEqualTo("not-payable");
            assertThat(r.message()).contains("o-1").contains("none");
        });
        assertThat(d.events()).isEmpty();
        assertThat(d.effects()).isEmpty();
        assertThat(Decision.accept(new Paid("o-1")).rejected()).isEmpty();
        assertThat(orders.decide(new Place("o-2", 0), orders.initialState()))
                .isEqualTo(Decision.reject("invalid-amount", "an order needs a positive amount, not 0"));
    }

    @Test
    void shouldActOnATimeoutOnlyInTheStateThatExpectsItAndTakeRepeatsAsNothing() {
        Orders.State open = orders.fold(List.of(new Placed("o-1", 100)));
        Orders.State settled = orders.evolve(open, new Paid("o-1"));

        assertThat(orders.decide(new PaymentTimedOut("o-1"), open).events())
                .containsExactly(new Cancelled("o-1", "not paid"));
        assertThat(orders.decide(new PaymentTimedOut("o-1"), settled)).isEqualTo(Decision.nothing());
        assertThat(orders.decide(new Pay("o-1"), settled)).isEqualTo(Decision.nothing());
        Decision<Orders.Happened> refund = orders.decide(new Cancel("o-1", "changed mind"), settled);
        assertThat(refund.events()).containsExactly(new Cancelled("o-1", "changed mind"));
        assertThat(refund.effects()).containsExactly(Effect.send("payment-o-1", "refund"));
        assertThat(orders.evolve(settled, refund.events().getFirst())).isEqualTo(new Closed("o-1"));
    }

    @Test
    void shouldKeepDecisionsImmutableAndMapTheirEvents() {
        List<Orders.Happened> events = new java.util.ArrayList<>(List.of(new Paid("o-1")));
        Decision.Accepted<Orders.Happened> d = Decision.acceptAll(events);
        events.clear();
        assertThat(d.events()).containsExactly(new Paid("o-1"));
        assertThatThrownBy(() -> d.events().add(new Paid("o-2"))).isInstanceOf(UnsupportedOperationException.class);

        Decision<String> names =
                d.withEffects(Effect.send("s-1", "x")).map(e -> e.getClass().getSimpleName());
        assertThat(names.events()).containsExactly("Paid");
        assertThat(names.effects()).containsExactly(Effect.send("s-1", "x"));
        assertThat(Decision.<String>reject("c", "m").map(String::length)).isEqualTo(Decision.reject("c", "m"));
    }

    @Test
    void shouldRefuseEffectsWithoutEventsToFollow() {
        // A repeat of the command would issue them again: nothing records that they were wanted.
        assertThatThrownBy(() -> Decision.<Orders.Happened>nothing().withEffects(Effect.send("payment-o-1", "refund")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has none");
        assertThatThrownBy(() -> Decision.acceptAll(List.of(), List.of(Effect.send("payment-o-1", "refund"))))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldRefuseEffectsAndRejectionsThatSayNothing() {
        assertThatThrownBy(() -> Effect.emit("not a type", null, 1)).isInstanceOf(dev.keel.InvalidEventException.class);
        assertThatThrownBy(() -> Effect.send(" ", "x")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Effect.schedule("s-1", "x", Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("delay");
        assertThatThrownBy(() -> new Rejection("", "why")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Rejection("sold-out", " "))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sold-out");
    }
}
