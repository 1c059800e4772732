package dev.keel.internal.intake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.IntakeFullException;
import dev.keel.internal.lanes.DeliveryScope;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.Telemetry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** An emit waiting for room on a full lane: how it waits, and how the wait ends. */
class IntakeBackpressureTest {
    private static final long MARK = 10;

    private static Intake intake(Duration emitWait) {
        return new Intake(
                4,
                Clock.systemUTC(),
                new PayloadCodec(new ObjectMapper()),
                new Telemetry(new SimpleMeterRegistry(), null, false),
                new DeliveryScope(),
                1 << 20,
                64,
                MARK,
                emitWait,
                Duration.ofMinutes(5),
                null);
    }

    @Test
    void shouldBackOffWhileTheLaneStaysFullThenRefuse() {
        Intake intake = intake(Duration.ofMillis(300));
        AtomicInteger checks = new AtomicInteger();
        AtomicInteger wakes = new AtomicInteger();
        assertThatThrownBy(() -> intake.awaitRoom(
                        2,
                        lane -> {
                            checks.incrementAndGet();
                            return MARK;
                        },
                        lane -> wakes.incrementAndGet(),
                        () -> {}))
                .isInstanceOf(IntakeFullException.class)
                .hasMessageContaining("lane 2");
        // Pauses grow from 50 µs to 1 ms: over 300 ms, a few hundred checks at most (at a steady 50 µs it
        // would be thousands). Parking can only oversleep, so this bound holds on a loaded machine too.
        long most = Duration.ofMillis(300).toNanos() / Intake.LAST_PAUSE_NANOS + 64;
        assertThat(checks.get()).isBetween(2, (int) most);
        assertThat(wakes.get()).isEqualTo(checks.get() - 1); // the lane's workers are woken before each pause
        assertThat(intake.rejected()).isEqualTo(1);
    }

    @Test
    void shouldGoOnAsSoonAsTheBacklogDropsBelowTheMark() {
        Intake intake = intake(Duration.ofSeconds(30));
        AtomicInteger checks = new AtomicInteger();
        intake.awaitRoom(0, lane -> checks.incrementAndGet() < 5 ? MARK : MARK - 1, lane -> {}, () -> {});
        assertThat(checks.get()).isEqualTo(5);
        assertThat(intake.rejected()).isZero();
    }

    @Test
    void shouldStopWaitingWhenTheRuntimeCloses() {
        Intake intake = intake(Duration.ofSeconds(30));
        AtomicInteger checks = new AtomicInteger();
        assertThatThrownBy(() -> intake.awaitRoom(0, lane -> MARK, lane -> {}, () -> {
                    if (checks.incrementAndGet() == 3) {
                        throw new IllegalStateException("closed");
                    }
                }))
                .hasMessage("closed");
    }

    @Test
    void shouldRefuseAtOnceAnInterruptedProducerAndKeepItsInterrupt() {
        Intake intake = intake(Duration.ofSeconds(30));
        AtomicInteger checks = new AtomicInteger();
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> intake.awaitRoom(
                            0,
                            lane -> {
                                checks.incrementAndGet();
                                return MARK;
                            },
                            lane -> {},
                            () -> {}))
                    .isInstanceOf(IntakeFullException.class);
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
            assertThat(checks.get()).isEqualTo(1); // it did not spin for the emit wait
        } finally {
            Thread.interrupted();
        }
    }
}
