package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Delivery;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.RetryAfterException;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RetryTest {
    private final TestClock clock = TestClock.create();
    private final Keel keel =
            Keel.builder().clock(clock).random(new Random(7)).lanes(2).build();
    private final List<Delivery<?>> attempts = new ArrayList<>();

    private static final RetryPolicy NO_JITTER = RetryPolicy.builder()
            .maxAttempts(4)
            .initialDelay(Duration.ofSeconds(1))
            .multiplier(2)
            .maxDelay(Duration.ofSeconds(3))
            .jitter(0)
            .build();

    @AfterEach
    void close() {
        keel.close();
    }

    private void subscribe(RetryPolicy policy, int failuresBeforeSuccess, Exception error) {
        keel.subscribe(Subscription.builder("billing")
                .types("invoice.*")
                .retry(policy)
                .handler(Object.class, d -> {
                    attempts.add(d);
                    if (attempts.size() <= failuresBeforeSuccess) {
                        throw error;
                    }
                })
                .build());
    }

    @Test
    void shouldRetryWithExponentialBackoffOnTheClock() {
        subscribe(NO_JITTER, 3, new IOException("db down"));
        keel.emit("invoice.created", "i-1", 1).join();

        keel.process();
        assertThat(attempts).hasSize(1);
        clock.advance(Duration.ofMillis(999));
        keel.process();
        assertThat(attempts).hasSize(1);
        clock.advance(Duration.ofMillis(1));
        keel.process();
        assertThat(attempts).hasSize(2);
        clock.advance(Duration.ofSeconds(2));
        keel.process();
        assertThat(attempts).hasSize(3);
        clock.advance(Duration.ofSeconds(2));
        keel.process();
        assertThat(attempts).hasSize(3);
        clock.advance(Duration.ofSeconds(1));
        keel.process();
        assertThat(attempts).hasSize(4);
        assertThat(keel.deadLetters().count(null)).isZero();
        assertThat(keel.stats().subscription("billing").pendingDue()).isZero();
    }

    @Test
    void shouldShowTheAttemptNumberAndEarlierErrorsToTheHandler() {
        subscribe(NO_JITTER, 2, new IOException("db down"));
        keel.emit("invoice.created", "i-1", 1).join();
        for (int i = 0; i < 3; i++) {
            keel.process();
            clock.advance(Duration.ofSeconds(3));
        }
        assertThat(attempts).extracting(Delivery::attempt).containsExactly(1, 2, 3);
        assertThat(attempts.get(2).errors())
                .extracting(AttemptError::attempt, AttemptError::errorType, AttemptError::message)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(1, "java.io.IOException", "db down"),
                        org.assertj.core.groups.Tuple.tuple(2, "java.io.IOException", "db down"));
    }

    @Test
    void shouldDeadLetterWithTheFullHistoryAfterTheLastAttempt() {
        subscribe(NO_JITTER, Integer.MAX_VALUE, new IOException("db down"));
        keel.emit("invoice.created", "i-1", 1).join();
        for (int i = 0; i < 6; i++) {
            keel.process();
            clock.advance(Duration.ofSeconds(3));
        }
        assertThat(attempts).hasSize(4);
        DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
        assertThat(d.errors()).hasSize(4);
        assertThat(d.reason()).isEqualTo("gave up after 4 attempts: IOException: db down");
        assertThat(d.subscription()).isEqualTo("billing");
        assertThat(keel.stats().subscription("billing").deadLettered()).isEqualTo(1);
    }

    @Test
    void shouldSkipRetriesForAbortOnTypesAndPermanentFailures() {
        subscribe(
                NO_JITTER.toBuilder().abortOn(IllegalArgumentException.class).build(),
                Integer.MAX_VALUE,
                new IllegalArgumentException("bad amount"));
        keel.emit("invoice.created", "i-1", 1).join();
        keel.process();
        assertThat(attempts).hasSize(1);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all()).getFirst().reason())
                .isEqualTo("permanent failure: IllegalArgumentException: bad amount");

        attempts.clear();
        keel.unsubscribe("billing");
        subscribe(NO_JITTER, Integer.MAX_VALUE, new PermanentFailureException("unknown customer"));
        keel.emit("invoice.created", "i-2", 1).join();
        keel.process();
        assertThat(attempts).hasSize(1);
        assertThat(keel.deadLetters().count("billing")).isEqualTo(2);
    }

    @Test
    void shouldRetryOnlyListedTypesWhenRetryOnIsSet() {
        subscribe(
                NO_JITTER.toBuilder().retryOn(IOException.class).build(),
                Integer.MAX_VALUE,
                new IllegalStateException("bug"));
        keel.emit("invoice.created", "i-1", 1).join();
        keel.process();
        assertThat(attempts).hasSize(1);
        assertThat(keel.deadLetters().count("billing")).isEqualTo(1);
    }

    @Test
    void shouldHonourTheDelayAskedForByTheHandler() {
        subscribe(NO_JITTER, 1, new RetryAfterException("rate limited", Duration.ofMinutes(10)));
        keel.emit("invoice.created", "i-1", 1).join();
        keel.process();
        clock.advance(Duration.ofMinutes(9));
        keel.process();
        assertThat(attempts).hasSize(1);
        clock.advance(Duration.ofMinutes(1));
        keel.process();
        assertThat(attempts).hasSize(2);
    }

    @Test
    void shouldApplyAPerTypeRetryOverride() {
        keel.subscribe(Subscription.builder("billing")
                .types("invoice.*")
                .retry(NO_JITTER)
                .retryFor("invoice.urgent", RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    attempts.add(d);
                    throw new IOException("down");
                })
                .build());
        keel.emit("invoice.urgent", "i-1", 1).join();
        keel.emit("invoice.created", "i-2", 1).join();
        keel.process();
        assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                .extracting(d -> d.event().type())
                .containsExactly("invoice.urgent");
        assertThat(keel.stats().subscription("billing").pendingDue()).isEqualTo(1);
    }

    @Test
    void shouldSpreadDelaysWithinTheJitterBounds() {
        RetryPolicy p = RetryPolicy.builder()
                .initialDelay(Duration.ofSeconds(10))
                .multiplier(3)
                .maxDelay(Duration.ofMinutes(10))
                .jitter(0.5)
                .build();
        assertThat(p.delayAfter(1, 0.0)).isEqualTo(Duration.ofSeconds(5));
        assertThat(p.delayAfter(1, 0.5)).isEqualTo(Duration.ofSeconds(10));
        assertThat(p.delayAfter(2, 0.5)).isEqualTo(Duration.ofSeconds(30));
        assertThat(p.delayAfter(10, 0.5)).isEqualTo(Duration.ofMinutes(10));
        assertThat(p.delayAfter(10, 0.999)).isLessThanOrEqualTo(Duration.ofMinutes(15));
    }

    @Test
    void shouldOfferAnEventAgainWithoutUsingAnAttemptAfterAVirtualMachineError() {
        List<String> seen = new ArrayList<>();
        keel.subscribe(Subscription.builder("billing")
                .types("invoice.*")
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    seen.add(d.event().id() + "#" + d.attempt());
                    if (seen.size() == 1) {
                        throw new OutOfMemoryError("simulated");
                    }
                })
                .build());
        String id = keel.emit("invoice.created", "i-1", 1).join().eventId();

        assertThatThrownBy(keel::process).isInstanceOf(OutOfMemoryError.class);
        keel.process();

        assertThat(seen).containsExactly(id + "#1", id + "#1"); // the same first attempt, offered again
        assertThat(keel.deadLetters().count("billing")).isZero();
    }

    @Test
    void shouldCountTheThirdVirtualMachineErrorInARowOnOneEventAsAFailedAttempt() {
        List<String> seen = new ArrayList<>();
        keel.subscribe(Subscription.builder("billing")
                .types("invoice.*")
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    seen.add(d.event().id());
                    if (d.data().equals(1)) {
                        throw new OutOfMemoryError("simulated");
                    }
                })
                .build());
        String poison = keel.emit("invoice.created", "i-1", 1).join().eventId();
        String next = keel.emit("invoice.created", "i-1", 2).join().eventId();

        assertThatThrownBy(keel::process).isInstanceOf(OutOfMemoryError.class);
        assertThatThrownBy(keel::process).isInstanceOf(OutOfMemoryError.class);
        keel.process(); // the third in a row: a failed attempt, and with no retries a dead letter

        assertThat(seen).containsExactly(poison, poison, poison, next);
        DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
        assertThat(d.event().id()).isEqualTo(poison);
        assertThat(d.reason()).contains("OutOfMemoryError: simulated");
    }

    @ParameterizedTest(name = "timeout {0}")
    @ValueSource(strings = {"30s", "none"})
    void shouldDeadLetterTwoPoisonEventsInARowAndDeliverWhatFollows(String timeout) {
        List<String> seen = new ArrayList<>();
        keel.subscribe(Subscription.builder("billing")
                .types("invoice.*")
                .retry(RetryPolicy.NO_RETRY)
                .timeout(timeout.equals("none") ? null : Duration.ofSeconds(30))
                .handler(Object.class, d -> {
                    seen.add(d.event().id());
                    if (!d.data().equals(3)) {
                        throw new OutOfMemoryError("simulated");
                    }
                })
                .build());
        // One key: the second waits behind the first on its lane.
        String first = keel.emit("invoice.created", "a", 1).join().eventId();
        String second = keel.emit("invoice.created", "a", 2).join().eventId();
        String fine = keel.emit("invoice.created", "a", 3).join().eventId();

        for (int i = 0; i < 10 && !seen.contains(fine); i++) {
            try {
                keel.process();
            } catch (OutOfMemoryError expected) {
                // offered again on the next pass
            }
        }

        assertThat(keel.deadLetters().list(DeadLetterQuery.all()))
                .extracting(d -> d.event().id())
                .containsExactlyInAnyOrder(first, second);
        assertThat(seen).containsSubsequence(first, first, first, second, second, second, fine);
        assertThat(seen.stream().filter(first::equals)).hasSize(3);
        assertThat(seen.stream().filter(second::equals)).hasSize(3);
    }
}
