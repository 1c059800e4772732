package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import dev.keel.test.chaos.ChaosProxy;
import dev.keel.test.chaos.SteadyLoad;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A runtime on Kafka through a {@link ChaosProxy}, under a steady emit load: dropped connections, a blackhole longer
 * than the producer's delivery timeout, and a restart of the link. The broker advertises the proxy's port, so every
 * client connection (producer, consumers, admin) passes through it. No acknowledged emit is lost, keys keep their
 * order, failures are typed, and emits and deliveries resume on their own.
 */
class KafkaChaosTest {
    private static final Duration BOUND = Duration.ofSeconds(60);
    private static final int RECOVERED = 50;
    /** Longer than the journal's producer delivery timeout (20 s), so that the emit under way fails. */
    private static final Duration BLACKHOLE = Duration.ofSeconds(25);

    private static final AtomicInteger TOPICS = new AtomicInteger();
    private static KafkaBroker broker;
    private static ChaosProxy proxy;

    private Keel keel;
    private SteadyLoad load;

    @BeforeAll
    static void startBrokerBehindProxy() throws Exception {
        int brokerPort = KafkaBroker.freeLoopbackPort();
        int proxyPort = KafkaBroker.freeLoopbackPort();
        proxy = ChaosProxy.builder()
                .listenPort(proxyPort)
                .target("127.0.0.1", brokerPort)
                .build();
        broker = KafkaBroker.startAdvertising(brokerPort, proxyPort);
    }

    @AfterAll
    static void stopBroker() throws Exception {
        if (proxy != null) {
            proxy.close();
        }
        if (broker != null) {
            broker.close();
        }
    }

    @BeforeEach
    void startRuntime() {
        keel = Keel.builder()
                .lanes(4)
                .journal(KafkaJournal.builder()
                        .bootstrapServers(broker.bootstrapServers())
                        .topic("chaos-" + TOPICS.incrementAndGet())
                        .replicationFactor(1)
                        .timeout(Duration.ofSeconds(10))
                        .build())
                .build();
        load = SteadyLoad.on(keel);
        keel.start();
        load.start();
        await().atMost(BOUND).until(() -> load.acknowledged() >= RECOVERED);
    }

    @AfterEach
    void stopRuntime() {
        if (load != null) {
            load.stop();
        }
        if (keel != null) {
            keel.close();
        }
        proxy.heal();
        proxy.acceptConnections();
    }

    @Test
    void shouldLoseNothingWhenEveryConnectionIsDropped() {
        assertThat(proxy.pipes()).as("clients connect through the proxy").isPositive();
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
        proxy.blackhole(BLACKHOLE);
        await().atMost(BOUND).until(() -> !load.failures().isEmpty());
        await().atMost(BOUND).until(() -> !proxy.blackholed());
        int healed = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= healed + RECOVERED);
        assertRecovered();
        report("blackhole " + BLACKHOLE.toSeconds() + " s");
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

    /** Every acknowledged emit is delivered, in key order; every failure is the journal's typed error. */
    private void assertRecovered() {
        load.stop();
        await().atMost(BOUND).until(() -> load.undelivered().isEmpty());
        assertThat(load.outOfOrder()).isEmpty();
        assertThat(load.failures()).allSatisfy(f -> assertThat(f.error()).isInstanceOf(JournalException.class));
    }

    private void report(String scenario) {
        var failures = load.failures();
        System.out.printf(
                "chaos kafka %s: %s; failures %d, longest failed wait %d ms, error types %s, first error %s%n",
                scenario,
                load,
                failures.size(),
                failures.stream().mapToLong(f -> f.waited().toMillis()).max().orElse(0),
                failures.stream()
                        .map(f -> f.error().getClass().getSimpleName())
                        .distinct()
                        .toList(),
                failures.isEmpty() ? "-" : failures.getFirst().error().getMessage());
    }
}
