package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.KeelException;
import dev.keel.test.chaos.ChaosProxy;
import dev.keel.test.chaos.SteadyLoad;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A runtime on Redis through a {@link ChaosProxy}, under a steady emit load: dropped connections, a blackhole
 * longer than the command timeout, and a restart. No acknowledged emit is lost, failures are typed, and emits and
 * deliveries resume on their own.
 */
class RedisChaosTest {
    private static final Duration BOUND = Duration.ofSeconds(30);
    private static final int RECOVERED = 50;

    private LocalRedis redis;
    private ChaosProxy proxy;
    private Keel keel;
    private SteadyLoad load;

    @BeforeEach
    void startRuntime() throws Exception {
        redis = LocalRedis.start();
        proxy = ChaosProxy.to("127.0.0.1", redis.port());
        keel = Keel.builder()
                .lanes(4)
                .journal(RedisJournal.builder()
                        .url("redis://127.0.0.1:" + proxy.port())
                        .timeout(Duration.ofSeconds(2))
                        .build())
                .build();
        load = SteadyLoad.on(keel);
        keel.start();
        load.start();
        await().atMost(BOUND).until(() -> load.acknowledged() >= RECOVERED);
    }

    @AfterEach
    void stopRuntime() throws Exception {
        if (load != null) {
            load.stop();
        }
        if (keel != null) {
            keel.close();
        }
        if (proxy != null) {
            proxy.close();
        }
        if (redis != null) {
            redis.close();
        }
    }

    @Test
    void shouldLoseNothingWhenEveryConnectionIsDropped() {
        for (int round = 0; round < 3; round++) {
            int before = load.acknowledged();
            proxy.dropConnections();
            await().atMost(BOUND).until(() -> load.acknowledged() >= before + RECOVERED);
        }
        assertRecovered();
        report("dropped connections x3");
    }

    @Test
    void shouldFailEmitsWithATypedErrorInABlackholeAndRecoverOnItsOwn() {
        proxy.blackhole(Duration.ofSeconds(5));
        await().atMost(BOUND).until(() -> !load.failures().isEmpty());
        await().atMost(BOUND).until(() -> !proxy.blackholed());
        int healed = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= healed + RECOVERED);
        assertRecovered();
        report("blackhole 5 s");
    }

    @Test
    void shouldRecoverOnItsOwnAfterARestart() {
        proxy.restart(Duration.ofSeconds(3));
        await().atMost(BOUND).until(proxy::accepting);
        int back = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= back + RECOVERED);
        assertRecovered();
        report("restart, refused for 3 s");
    }

    /** Every acknowledged emit is delivered, in key order; every failure is typed. */
    private void assertRecovered() {
        load.stop();
        await().atMost(BOUND).until(() -> load.undelivered().isEmpty());
        assertThat(load.outOfOrder()).isEmpty();
        assertThat(load.failures()).allSatisfy(f -> assertThat(f.error()).isInstanceOf(KeelException.class));
    }

    private void report(String scenario) {
        var failures = load.failures();
        System.out.printf(
                "chaos redis %s: %s; failures %d, longest failed wait %d ms, error types %s%n",
                scenario,
                load,
                failures.size(),
                failures.stream().mapToLong(f -> f.waited().toMillis()).max().orElse(0),
                failures.stream()
                        .map(f -> f.error().getClass().getSimpleName())
                        .distinct()
                        .toList());
    }
}
