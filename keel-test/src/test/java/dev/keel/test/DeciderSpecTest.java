package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class DeciderSpecTest {
    /** Seats of one show: reserve while any are left, and a hold that expires. */
    record Reserve(String who) {}

    record Reserved(String who) {}

    record Seats(int left) {}

    private static final Decider<Reserve, Seats, Reserved> SEATS = Decider.of(
            new Seats(2),
            (c, s) -> s.left() == 0
                    ? Decision.reject("sold-out", "no seat left for " + c.who())
                    : Decision.<Reserved>accept(new Reserved(c.who()))
                            .withEffects(Effect.schedule("show-1", "release:" + c.who(), Duration.ofMinutes(10))),
            (s, e) -> new Seats(s.left() - 1));

    @Test
    void shouldPassWhenTheDeciderDoesWhatTheSpecSays() {
        DeciderSpec.given(SEATS)
                .when(new Reserve("ada"))
                .thenEvents(new Reserved("ada"))
                .thenEffects(Effect.schedule("show-1", "release:ada", Duration.ofMinutes(10)))
                .thenState(new Seats(1));
        DeciderSpec.given(SEATS, new Reserved("ada"), new Reserved("bob"))
                .when(new Reserve("cy"))
                .thenRejected("sold-out")
                .thenEffects()
                .thenState(new Seats(0));
    }

    @Test
    void shouldFailWithWhatTheDeciderDidInstead() {
        assertThatThrownBy(() -> DeciderSpec.given(SEATS, new Reserved("ada"), new Reserved("bob"))
                        .when(new Reserve("cy"))
                        .thenEvents(new Reserved("cy")))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("not accepted")
                .hasMessageContaining("sold-out");
        assertThatThrownBy(
                        () -> DeciderSpec.given(SEATS).when(new Reserve("ada")).thenRejected("sold-out"))
                .isInstanceOf(AssertionError.class);
        assertThatThrownBy(
                        () -> DeciderSpec.given(SEATS).when(new Reserve("ada")).thenState(new Seats(2)))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("state after");
        assertThatThrownBy(
                        () -> DeciderSpec.given(SEATS).when(new Reserve("ada")).thenNothing())
                .isInstanceOf(AssertionError.class);
    }
}
