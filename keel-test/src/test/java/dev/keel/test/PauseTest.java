package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Keel;
import dev.keel.SubscriptionException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PauseTest {

    @Test
    void shouldHoldAPausedSubscriptionWithoutUsingAttemptsAndCatchUpOnResume() {
        TestClock clock = TestClock.create();
        List<Object> seen = new ArrayList<>();
        List<Object> other = new ArrayList<>();
        try (Keel keel = Keel.builder().clock(clock).build()) {
            String name = keel.on("paused", "order.*", Object.class, d -> seen.add(d.data()))
                    .name();
            keel.on("running", "order.*", Object.class, d -> other.add(d.data()));
            keel.pause(name, Duration.ofMinutes(5));
            keel.emit("order.created", "o-1", 1).join();
            keel.process();
            assertThat(seen).isEmpty();
            assertThat(other).containsExactly(1);
            assertThat(keel.pausedUntil(name)).isEqualTo(clock.instant().plus(Duration.ofMinutes(5)));
            keel.resume(name);
            keel.process();
            assertThat(seen).containsExactly(1);
            assertThat(keel.stats().subscription(name).failedAttempts()).isZero();
            assertThatThrownBy(() -> keel.pause("nope", Duration.ofSeconds(1)))
                    .isInstanceOf(SubscriptionException.class);
        }
    }
}
