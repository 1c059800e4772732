package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.ChainBudgetExceededException;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.EnvelopeCodec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A time budget for a whole causation chain: an event and everything its handlers emit. */
class ChainBudgetTest {
    private static final Instant T0 = Instant.parse("2026-12-04T10:00:00Z");

    private final TestClock clock = TestClock.at(T0);
    private final List<Delivery<?>> seen = new CopyOnWriteArrayList<>();
    private Keel keel;

    @AfterEach
    void close() {
        if (keel != null) {
            keel.close();
        }
    }

    private Keel runtime(Duration budget) {
        keel = Keel.builder().lanes(1).clock(clock).chainBudget(budget).build();
        return keel;
    }

    @Test
    void shouldGiveTheRootADeadlineThatEveryEventItCausesInherits() {
        runtime(Duration.ofSeconds(30));
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .timeout(Duration.ofMinutes(5))
                .handler(Object.class, d -> {
                    seen.add(d);
                    keel.emit("payment.requested", "order-7", Map.of("cents", 100));
                })
                .build());
        keel.subscribe(Subscription.builder("payments")
                .types("payment.requested")
                .timeout(Duration.ofSeconds(5))
                .handler(Object.class, seen::add)
                .build());
        keel.emit("order.placed", "order-7", Map.of("n", 1)).join();
        keel.process();
        keel.process();

        assertThat(seen).hasSize(2);
        Delivery<?> root = seen.get(0);
        Delivery<?> caused = seen.get(1);
        assertThat(root.event().deadline()).isEqualTo(T0.plusSeconds(30));
        assertThat(caused.event().deadline()).isEqualTo(T0.plusSeconds(30));
        // The attempt's deadline is the earlier of its timeout's and the chain's.
        assertThat(root.deadline()).isEqualTo(T0.plusSeconds(30));
        assertThat(caused.deadline()).isEqualTo(T0.plusSeconds(5));
    }

    @Test
    void shouldNotStartADeliveryPastTheChainsDeadlineAndRunItWhenReprocessed() {
        runtime(Duration.ofSeconds(30));
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .handler(Object.class, seen::add)
                .build());
        keel.emit("order.placed", "order-7", Map.of("n", 1)).join();
        clock.advance(Duration.ofSeconds(31));
        keel.process();

        assertThat(seen).isEmpty();
        DeadLetter dead = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
        assertThat(dead.lastErrorType()).isEqualTo(ChainBudgetExceededException.class.getName());
        assertThat(dead.errors()).hasSize(1); // not retried: retrying cannot help

        keel.deadLetters().reprocess(dead.id());
        keel.process();
        assertThat(seen).hasSize(1);
        assertThat(seen.getFirst().replayCount()).isEqualTo(1);
    }

    @Test
    void shouldLetAReprocessedEventCauseEventsOfANewChain() {
        runtime(Duration.ofSeconds(30));
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .handler(Object.class, d -> {
                    seen.add(d);
                    keel.emit("payment.requested", "order-7", Map.of("cents", 100));
                })
                .build());
        keel.emit("order.placed", "order-7", Map.of("n", 1)).join();
        clock.advance(Duration.ofSeconds(31));
        keel.process();
        DeadLetter dead = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();

        keel.deadLetters().reprocess(dead.id());
        keel.process();

        assertThat(seen).hasSize(1);
        assertThat(keel.deadLetters().count("orders")).isZero();
        assertThat(keel.logAccess().head(0)).isEqualTo(2); // the payment it caused was appended
        Event<?> payment = keel.logAccess().read(0, 1, 1).getFirst().event();
        assertThat(payment.deadline()).isEqualTo(clock.instant().plusSeconds(30)); // a chain of its own
    }

    @Test
    void shouldStartADelayedRootsBudgetWhenItIsDue() {
        runtime(Duration.ofSeconds(30));
        List<Event<?>> stored = new CopyOnWriteArrayList<>();
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .handler(Object.class, d -> stored.add(d.event()))
                .build());
        keel.emit(Event.builder("order.placed", (Object) Map.of("n", 1))
                        .key("order-7")
                        .deliverAt(T0.plus(Duration.ofHours(1)))
                        .build())
                .join();
        clock.advance(Duration.ofHours(1));
        keel.process();
        assertThat(stored).singleElement().satisfies(e -> assertThat(e.deadline())
                .isEqualTo(T0.plus(Duration.ofHours(1)).plusSeconds(30)));
    }

    @Test
    void shouldRefuseAnEventCausedPastTheChainsDeadline() {
        runtime(Duration.ofSeconds(30));
        List<Throwable> refused = new CopyOnWriteArrayList<>();
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .handler(Object.class, d -> {
                    clock.advance(Duration.ofSeconds(40)); // the handler took longer than the chain's budget
                    try {
                        keel.emit("payment.requested", "order-7", Map.of("cents", 100));
                    } catch (ChainBudgetExceededException e) {
                        refused.add(e);
                        throw e;
                    }
                })
                .build());
        keel.emit("order.placed", "order-7", Map.of("n", 1)).join();
        keel.process();

        assertThat(refused).singleElement().satisfies(e -> assertThat(e.getMessage())
                .contains("'payment.requested'")
                .contains("time budget ran out at " + T0.plusSeconds(30)));
        assertThat(keel.logAccess().head(0)).isEqualTo(1); // only the root was appended
        assertThat(keel.deadLetters().count("orders")).isEqualTo(1);
    }

    @Test
    void shouldLeaveEventsAloneWithoutABudget() {
        runtime(null);
        keel.subscribe(Subscription.builder("orders")
                .types("order.placed")
                .handler(Object.class, seen::add)
                .build());
        keel.emit("order.placed", "order-7", Map.of("n", 1)).join();
        clock.advance(Duration.ofDays(1));
        keel.process();
        assertThat(seen).singleElement().satisfies(d -> assertThat(d.event().deadline())
                .isNull());
        assertThatThrownBy(() -> Keel.builder().chainBudget(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("chainBudget must be positive");
    }

    @Test
    void shouldKeepTheDeadlineInTheStoredEnvelopeAndReadOldRecordsWithoutOne() {
        EnvelopeCodec codec = new EnvelopeCodec(new ObjectMapper());
        Event<?> withDeadline = Event.builder("order.placed", (Object) Map.of("n", 1))
                .deadline(T0.plusMillis(1234))
                .build();
        assertThat(codec.read(codec.write(withDeadline)).deadline()).isEqualTo(T0.plusMillis(1234));
        Event<?> without =
                Event.builder("order.placed", (Object) Map.of("n", 1)).build();
        assertThat(codec.read(codec.write(without)).deadline()).isNull();
    }
}
