package dev.keel.eventsourcing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class CompositionTest {
    sealed interface StockCommand permits Reserve, Restock {}

    record Reserve(int units) implements StockCommand {}

    record Restock(int units) implements StockCommand {}

    sealed interface StockEvent permits Reserved, Restocked {}

    record Reserved(int units) implements StockEvent {}

    record Restocked(int units) implements StockEvent {}

    record Stock(int available) {}

    static final Decider<StockCommand, Stock, StockEvent> STOCK = Decider.of(
            new Stock(0),
            (c, s) -> switch (c) {
                case Reserve r
                when r.units() > s.available() ->
                    Decision.reject("insufficient-stock", r.units() + " wanted, " + s.available() + " left");
                case Reserve r -> Decision.accept(new Reserved(r.units()));
                case Restock r -> Decision.accept(new Restocked(r.units()));
            },
            (s, e) -> switch (e) {
                case Reserved r -> new Stock(s.available() - r.units());
                case Restocked r -> new Stock(s.available() + r.units());
            });

    private final Decider<Object, Combined<Orders.State, Stock>, Object> both = Decider.combine(
            Orders.DECIDER, Orders.Command.class, Orders.Happened.class, STOCK, StockCommand.class, StockEvent.class);

    @Test
    void shouldRouteCommandsAndEventsOfTwoDecidersOverThePairOfTheirStates() {
        Combined<Orders.State, Stock> s = both.initialState();
        assertThat(s).isEqualTo(new Combined<>(new Orders.None(), new Stock(0)));

        s = both.fold(s, both.decide(new Restock(3), s).events());
        s = both.fold(s, both.decide(new Orders.Place("o-1", 500), s).events());
        assertThat(s).isEqualTo(new Combined<>(new Orders.Open("o-1", 500), new Stock(3)));

        Decision<Object> tooMany = both.decide(new Reserve(5), s);
        assertThat(tooMany).isEqualTo(Decision.reject("insufficient-stock", "5 wanted, 3 left"));
        Decision<Object> two = both.decide(new Reserve(2), s);
        assertThat(two.events()).containsExactly(new Reserved(2));
        assertThat(both.fold(s, two.events())).isEqualTo(new Combined<>(new Orders.Open("o-1", 500), new Stock(1)));
        // The order's effects come through the combination unchanged.
        assertThat(both.decide(new Orders.Place("o-2", 1), both.initialState()).effects())
                .hasSize(2);
    }

    @Test
    void shouldRefuseToCombineDecidersWhoseTypesOverlap() {
        // Two stocks of the same types: a stream's Reserved event could not say whose it is.
        assertThatThrownBy(() -> Decider.combine(
                        STOCK, StockCommand.class, StockEvent.class, STOCK, StockCommand.class, StockEvent.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("overlap");
        // A decider whose events are any object would take the orders' events too.
        Decider<StockCommand, Stock, Object> loose =
                Decider.of(new Stock(0), (c, s) -> Decision.nothing(), (s, e) -> s);
        assertThatThrownBy(() -> Decider.combine(
                        Orders.DECIDER,
                        Orders.Command.class,
                        Orders.Happened.class,
                        loose,
                        StockCommand.class,
                        Object.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("event types");
    }

    @Test
    void shouldRefuseCommandsAndEventsThatNeitherTakesWithATypedError() {
        assertThatThrownBy(() -> both.decide("ship it", both.initialState()))
                .isInstanceOf(UnknownMessageException.class)
                .hasMessageContaining("command java.lang.String")
                .hasMessageContaining(StockCommand.class.getName());
        assertThatThrownBy(() -> both.evolve(both.initialState(), 42))
                .isInstanceOf(UnknownMessageException.class)
                .hasMessageContaining("event java.lang.Integer");
    }

    /** A warehouse with two stocks, each the STOCK decider scoped to its part. */
    record Warehouse(Stock north, Stock south) {}

    @Test
    void shouldRunADeciderOverItsPartOfALargerState() {
        Warehouse empty = new Warehouse(new Stock(0), new Stock(10));
        Decider<StockCommand, Warehouse, StockEvent> north =
                STOCK.scoped(empty, Warehouse::north, (w, part) -> new Warehouse(part, w.south()));

        Warehouse w = north.fold(List.of(new Restocked(4), new Reserved(1)));
        assertThat(w).isEqualTo(new Warehouse(new Stock(3), new Stock(10)));
        // Decisions see only the part: the south's ten units do not count for the north.
        assertThat(north.decide(new Reserve(5), w).accepted()).isFalse();
        assertThat(north.decide(new Reserve(3), w).events()).containsExactly(new Reserved(3));
        assertThatThrownBy(() -> STOCK.scoped(
                        new Warehouse(new Stock(1), new Stock(0)),
                        Warehouse::north,
                        (x, part) -> new Warehouse(part, x.south())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("initial state");
    }
}
