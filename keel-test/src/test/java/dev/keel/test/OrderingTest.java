package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** With one lane every key shares it, so these tests show what waits behind a failing event and what flows. */
class OrderingTest {
    private final TestClock clock = TestClock.create();
    private final Keel keel = Keel.builder().clock(clock).lanes(1).build();
    private final List<String> delivered = new ArrayList<>();
    private final Set<String> failing = new HashSet<>();

    private static final RetryPolicy ONE_SECOND = RetryPolicy.builder()
            .maxAttempts(3)
            .initialDelay(Duration.ofSeconds(1))
            .maxDelay(Duration.ofSeconds(1))
            .jitter(0)
            .build();

    @AfterEach
    void close() {
        keel.close();
    }

    private void subscribe(OrderingMode mode) {
        keel.subscribe(Subscription.builder("s")
                .types("**")
                .ordering(mode)
                .retry(ONE_SECOND)
                .handler(String.class, d -> {
                    if (failing.contains(d.data())) {
                        throw new IllegalStateException("failing " + d.data());
                    }
                    delivered.add(d.data());
                })
                .build());
    }

    private void emit(String key, String data) {
        keel.emit("thing.happened", key, data).join();
    }

    @Test
    void perKeyShouldParkLaterEventsOfAFailingKeyWhileOtherKeysFlow() {
        subscribe(OrderingMode.PER_KEY);
        failing.add("a1");
        emit("a", "a1");
        emit("b", "b1");
        emit("a", "a2");
        emit("b", "b2");
        keel.process();
        assertThat(delivered).containsExactly("b1", "b2");
        assertThat(keel.stats().subscription("s").parked()).isEqualTo(1);
        assertThat(keel.stats().subscription("s").pendingDue()).isEqualTo(1);

        emit("a", "a3");
        keel.process();
        assertThat(delivered).containsExactly("b1", "b2");

        failing.clear();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(delivered).containsExactly("b1", "b2", "a1", "a2", "a3");
        assertThat(keel.stats().subscription("s").parked()).isZero();
        assertThat(keel.stats().subscription("s").pendingDue()).isZero();
    }

    @Test
    void perKeyShouldReleaseTheKeyWhenItsHeadIsDeadLettered() {
        subscribe(OrderingMode.PER_KEY);
        failing.add("a1");
        emit("a", "a1");
        emit("a", "a2");
        keel.process();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(delivered).containsExactly("a2");
        assertThat(keel.deadLetters().count("s")).isEqualTo(1);
    }

    @Test
    void strictShouldBlockTheWholeLaneUntilTheFailingEventSucceeds() {
        subscribe(OrderingMode.STRICT);
        failing.add("a1");
        emit("a", "a1");
        emit("b", "b1");
        emit("a", "a2");
        keel.process();
        assertThat(delivered).isEmpty();
        assertThat(keel.stats().subscription("s").lag()).isEqualTo(2);

        failing.clear();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(delivered).containsExactly("a1", "b1", "a2");
    }

    @Test
    void noneShouldLetEverythingElseFlowPastAFailure() {
        subscribe(OrderingMode.NONE);
        failing.add("a1");
        emit("a", "a1");
        emit("a", "a2");
        emit("b", "b1");
        keel.process();
        assertThat(delivered).containsExactly("a2", "b1");
        failing.clear();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(delivered).containsExactly("a2", "b1", "a1");
    }

    @Test
    void oneSubscriptionsFailuresShouldNeverRerunAnother() {
        List<String> other = new ArrayList<>();
        subscribe(OrderingMode.PER_KEY);
        keel.on("**", String.class, d -> other.add(d.data()));
        failing.add("a1");
        emit("a", "a1");
        keel.process();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(other).containsExactly("a1");
    }

    @Test
    void shouldDeliverHigherPriorityFirstAmongKeysButNeverReorderOneKey() {
        List<String> seen = new ArrayList<>();
        keel.on("job.*", String.class, d -> seen.add(d.data()));
        keel.emit(Event.builder("job.run", "low-x1").key("x").priority(0).build())
                .join();
        keel.emit(Event.builder("job.run", "low-y").key("y").priority(0).build())
                .join();
        keel.emit(Event.builder("job.run", "high-x2").key("x").priority(9).build())
                .join();
        keel.emit(Event.builder("job.run", "high-z").key("z").priority(9).build())
                .join();
        keel.process();
        assertThat(seen).containsExactly("high-z", "low-x1", "high-x2", "low-y");
    }

    @Test
    void shouldDeliverADelayedEventAtItsTimeAndHoldItsKeyUntilThen() {
        subscribe(OrderingMode.PER_KEY);
        Instant later = clock.instant().plus(Duration.ofMinutes(5));
        keel.emit(Event.builder("reminder.due", "r1").key("a").deliverAt(later).build())
                .join();
        emit("a", "a2");
        emit("b", "b1");
        keel.process();
        assertThat(delivered).containsExactly("b1");
        clock.advance(Duration.ofMinutes(5));
        keel.process();
        assertThat(delivered).containsExactly("b1", "r1", "a2");
    }
}
