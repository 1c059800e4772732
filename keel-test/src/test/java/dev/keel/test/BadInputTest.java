package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Event;
import dev.keel.IntakeFullException;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.LoopDetectedException;
import dev.keel.PayloadTooLargeException;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.SubscriptionException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BadInputTest {
    private final Keel keel =
            Keel.builder().lanes(2).maxPayloadBytes(1024).maxDepth(5).build();

    @AfterEach
    void close() {
        keel.close();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {"", "   ", "order..created", ".order", "order.", "order created", "1order", "order.*", "ordér"})
    void shouldRefuseTypesOutsideTheGrammarAndStoreNothing(String type) {
        assertThatThrownBy(() -> keel.emit(type, "k", 1))
                .isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("'" + type + "'");
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldRefuseTheTypeReservedForUnreadableRecords() {
        assertThatThrownBy(() -> keel.emit("keel.unreadable", "k", 1))
                .isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("reserved");
        assertThat(keel.stats().emitted()).isZero();
    }

    @Test
    void shouldRefuseANullTypeAndATooLongOne() {
        assertThatThrownBy(() -> keel.emit(null, "k", 1))
                .isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("missing");
        assertThatThrownBy(() -> keel.emit("a".repeat(201), "k", 1))
                .isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("over the limit of 200");
    }

    @Test
    void shouldRefuseOversizedPayloadsNamingSizeAndLimit() {
        keel.on("**", Object.class, d -> {});
        assertThatThrownBy(() -> keel.emit("blob.uploaded", "k", "x".repeat(2000)))
                .isInstanceOf(PayloadTooLargeException.class)
                .hasMessageContaining("2000 bytes")
                .hasMessageContaining("limit of 1024");
        assertThatThrownBy(() -> keel.emit("blob.uploaded", "k", Map.of("data", "y".repeat(5000))))
                .isInstanceOf(PayloadTooLargeException.class);
        assertThatThrownBy(() -> keel.emit("blob.uploaded", "k", new byte[1025]))
                .isInstanceOf(PayloadTooLargeException.class);
        keel.emit("blob.uploaded", "k", "x".repeat(1000)).join();
        assertThat(keel.stats().emitted()).isEqualTo(1);
        assertThat(keel.stats().rejected()).isEqualTo(3);
    }

    @Test
    void shouldRefuseEmitsAfterClose() {
        keel.close();
        assertThatThrownBy(() -> keel.emit("order.created", "k", 1))
                .isInstanceOf(KeelClosedException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void shouldStopAHandlerThatEmitsInALoopAndDeadLetterTheCause() {
        keel.subscribe(Subscription.builder("echo")
                .types("ping")
                .retry(RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> keel.emit("ping", "k", 1))
                .build());
        keel.emit("ping", "k", 1).join();
        keel.process();
        assertThat(keel.stats().emitted()).isEqualTo(6);
        assertThat(keel.deadLetters().list(dev.keel.DeadLetterQuery.all()))
                .singleElement()
                .satisfies(d -> {
                    assertThat(d.lastErrorType()).isEqualTo(LoopDetectedException.class.getName());
                    assertThat(d.event().depth()).isEqualTo(5);
                    assertThat(d.errors().getFirst().message()).contains("depth 6", "limit of 5");
                });
    }

    @Test
    void shouldRefuseAnEventWhoseDepthIsAlreadyOverTheLimit() {
        assertThatThrownBy(() -> keel.emit(Event.builder("a.b", 1).depth(6).build()))
                .isInstanceOf(LoopDetectedException.class);
    }

    @Test
    void shouldKeepRunningWhenHandlersThrowAnything() {
        List<Object> ok = new ArrayList<>();
        keel.subscribe(Subscription.builder("fragile")
                .types("x.*")
                .retry(RetryPolicy.NO_RETRY)
                .handler(Integer.class, d -> {
                    switch (d.data()) {
                        case 1 -> throw new NullPointerException();
                        case 2 -> throw new AssertionError("broken invariant");
                        case 3 -> throw new StackOverflowError();
                        default -> ok.add(d.data());
                    }
                })
                .build());
        for (int i = 1; i <= 4; i++) {
            keel.emit("x.y", "k" + i, i).join();
        }
        keel.process();
        assertThat(ok).containsExactly(4);
        assertThat(keel.deadLetters().count("fragile")).isEqualTo(3);
    }

    @Test
    void shouldFailEmitsWithATypedErrorOnceTheIntakeIsFull() {
        try (Keel small =
                Keel.builder().lanes(1).intake(3, Duration.ofMillis(50)).build()) {
            small.on("**", Object.class, d -> {});
            for (int i = 0; i < 3; i++) {
                small.emit("a.b", "k", i).join();
            }
            assertThatThrownBy(() -> small.emit("a.b", "k", 99))
                    .isInstanceOf(IntakeFullException.class)
                    .hasMessageContaining("high-water mark of 3");
            small.process();
            small.emit("a.b", "k", 4).join();
            assertThat(small.stats().emitted()).isEqualTo(4);
        }
    }

    @Test
    void shouldRefuseBadConfigurationWithTheValueInTheMessage() {
        assertThatThrownBy(() -> Keel.builder().lanes(0)).hasMessage("lanes must be between 1 and 1024 but was 0");
        assertThatThrownBy(() -> RetryPolicy.builder().maxAttempts(0))
                .hasMessage("maxAttempts must be at least 1 but was 0");
        assertThatThrownBy(() -> RetryPolicy.builder().jitter(1.5))
                .hasMessage("jitter must be between 0.0 and 1.0 but was 1.5");
        assertThatThrownBy(() -> Subscription.builder("bad name")
                        .types("a")
                        .handler(Object.class, d -> {})
                        .build())
                .hasMessageContaining("'bad name' is invalid");
        assertThatThrownBy(() ->
                        Subscription.builder("s").handler(Object.class, d -> {}).build())
                .hasMessageContaining("names no event types");
        keel.on("a.b", Object.class, d -> {});
        assertThatThrownBy(() -> keel.subscribe(Subscription.builder("on:a.b:Object")
                        .types("a.b")
                        .handler(Object.class, d -> {})
                        .build()))
                .isInstanceOf(SubscriptionException.class)
                .hasMessageContaining("exists already");
    }
}
