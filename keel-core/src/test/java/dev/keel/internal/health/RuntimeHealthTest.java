package dev.keel.internal.health;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.ComponentHealth;
import dev.keel.ComponentHealth.Status;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RuntimeHealthTest {
    private final AtomicLong ledger = new AtomicLong();

    private RuntimeHealth health(Runnable ping, ComponentHealth.Check... checks) {
        return new RuntimeHealth(
                ping, () -> Map.of("ledger", ledger.get(), "billing", 0L), 10, List.of(checks), System::nanoTime);
    }

    private static ComponentHealth part(ComponentHealth runtime, String name) {
        return runtime.components().stream()
                .filter(c -> c.name().equals(name))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void shouldHoldDeadLettersAgainstTheCapacity() {
        RuntimeHealth health = health(() -> {});
        ledger.set(5); // half: still healthy
        assertThat(part(health.check(), "dead-letters").status()).isEqualTo(Status.HEALTHY);
        ledger.set(6);
        ComponentHealth over = health.check();
        assertThat(over.status()).isEqualTo(Status.DEGRADED);
        assertThat(part(over, "dead-letters").details())
                .containsEntry("count", 6L)
                .containsEntry("capacity", 10L)
                .containsEntry("bySubscription", Map.of("ledger", 6L));
        ledger.set(10);
        ComponentHealth at = health.check();
        assertThat(at.status()).isEqualTo(Status.CRITICAL);
        assertThat(at.reason()).startsWith("dead-letters: 10 dead letters, at or over the capacity of 10");
    }

    @Test
    void shouldBeCriticalWhenTheJournalCannotBeReadAndShowACheckThatThrows() {
        ComponentHealth runtime = health(
                        () -> {
                            throw new IllegalStateException("database is locked");
                        },
                        () -> {
                            throw new IllegalArgumentException("bad check");
                        })
                .check();
        assertThat(runtime.status()).isEqualTo(Status.CRITICAL);
        assertThat(part(runtime, "journal").reason()).isEqualTo("the journal cannot be read: database is locked");
        assertThat(runtime.components().get(2).reason())
                .contains("its health check failed")
                .contains("bad check");
    }
}
