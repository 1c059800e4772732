package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.ComponentHealth;
import dev.keel.server.Startup.StartupFailedException;
import dev.keel.server.Startup.State;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class StartupTest {
    private final Startup startup = new Startup();

    @Test
    void shouldStartComponentsInOrderAndRecordHowEachWent() {
        String journal = startup.required("journal", Duration.ofSeconds(5), List.of(), () -> "the journal");
        Integer runtime = startup.required("runtime", Duration.ofSeconds(5), List.of("journal"), () -> 42);

        assertThat(journal).isEqualTo("the journal");
        assertThat(runtime).isEqualTo(42);
        assertThat(startup.steps())
                .extracting(Startup.Step::name, Startup.Step::state)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("journal", State.STARTED),
                        org.assertj.core.groups.Tuple.tuple("runtime", State.STARTED));
        assertThat(startup.steps().get(1).dependsOn()).containsExactly("journal");
        assertThat(startup.health().status()).isEqualTo(ComponentHealth.Status.HEALTHY);
    }

    @Test
    void shouldFailTheStartNamingARequiredComponentThatDoesNotStartInTime() {
        AtomicBoolean interrupted = new AtomicBoolean();
        assertThatThrownBy(() -> startup.required("journal", Duration.ofMillis(100), List.of(), () -> {
                    try {
                        new CountDownLatch(1).await();
                    } catch (InterruptedException e) {
                        interrupted.set(true);
                    }
                    return null;
                }))
                .isInstanceOf(StartupFailedException.class)
                .hasMessageContaining("'journal'")
                .hasMessageContaining("did not start within PT0.1S");
        assertThat(startup.steps().get(0).state()).isEqualTo(State.FAILED);
        await().atMost(Duration.ofSeconds(5)).untilTrue(interrupted);
    }

    @Test
    void shouldPassOnWhatARequiredComponentThrewAsItThrewIt() {
        assertThatThrownBy(() -> startup.required("webhook-subscriptions", Duration.ofSeconds(5), List.of(), () -> {
                    throw new IllegalArgumentException("subscription 'billing': the url is not absolute");
                }))
                .isExactlyInstanceOf(IllegalArgumentException.class)
                .hasMessage("subscription 'billing': the url is not absolute");
        assertThat(startup.steps().get(0).state()).isEqualTo(State.FAILED);
        assertThat(startup.steps().get(0).reason()).contains("the url is not absolute");
    }

    @Test
    void shouldStartWithoutAnOptionalComponentThatFailsAndSayWhyInHealth() {
        var notices = startup.optional("redis-notices", Duration.ofSeconds(5), List.of(), () -> {
            throw new IllegalStateException("connection refused: 127.0.0.1:1");
        });

        assertThat(notices).isEmpty();
        Startup.Step step = startup.steps().get(0);
        assertThat(step.state()).isEqualTo(State.DEGRADED);
        assertThat(step.reason()).contains("connection refused");
        ComponentHealth health = startup.health();
        assertThat(health.status()).isEqualTo(ComponentHealth.Status.DEGRADED);
        assertThat(health.components()).singleElement().satisfies(c -> {
            assertThat(c.name()).isEqualTo("redis-notices");
            assertThat(c.reason()).contains("started without it").contains("connection refused");
        });
    }

    @Test
    void shouldSkipWhatDependsOnAComponentThatDidNotStart() {
        startup.optional("redis", Duration.ofSeconds(5), List.of(), () -> {
            throw new IllegalStateException("unreachable");
        });
        AtomicBoolean ran = new AtomicBoolean();
        var census = startup.optional("census", Duration.ofSeconds(5), List.of("redis"), () -> ran.getAndSet(true));

        assertThat(census).isEmpty();
        assertThat(ran).isFalse();
        assertThat(startup.steps().get(1).reason()).contains("'redis'").contains("degraded");
        assertThatThrownBy(() -> startup.required("cache", Duration.ofSeconds(5), List.of("redis"), () -> "x"))
                .isInstanceOf(StartupFailedException.class)
                .hasMessageContaining("'cache'")
                .hasMessageContaining("'redis'");
        assertThat(startup.steps().get(2).state()).isEqualTo(State.FAILED);
    }

    @Test
    void shouldRefuseADependencyThatIsNotStartedBeforeIt() {
        assertThatThrownBy(() -> startup.required("runtime", Duration.ofSeconds(5), List.of("journal"), () -> 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("start 'journal' first");
        assertThat(startup.steps()).isEmpty();
    }

    @Test
    void shouldCloseWhatAComponentOpensAfterItsStartTimedOut() {
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean closed = new AtomicBoolean();
        var late = startup.optional("redis-notices", Duration.ofMillis(100), List.of(), () -> {
            // Ignores the interrupt, as a connection attempt may, and opens its connection after all.
            while (release.getCount() > 0) {
                try {
                    release.await();
                } catch (InterruptedException ignored) {
                    // keeps connecting
                }
            }
            return (AutoCloseable) () -> closed.set(true);
        });
        assertThat(late).isEmpty();
        assertThat(startup.steps().get(0).reason()).contains("did not start within");

        release.countDown();
        await().atMost(Duration.ofSeconds(5)).untilTrue(closed);
    }
}
