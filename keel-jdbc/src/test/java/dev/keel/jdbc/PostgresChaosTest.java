package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.spi.JournalException;
import dev.keel.test.chaos.ChaosProxy;
import dev.keel.test.chaos.SteadyLoad;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A runtime on PostgreSQL through a {@link ChaosProxy}, under a steady emit load, through each fault: no
 * acknowledged emit is lost, emits that fail while the database is away fail with a {@link JournalException},
 * and emits and deliveries resume on their own.
 */
class PostgresChaosTest extends WithPostgres {
    private static final Duration BOUND = Duration.ofSeconds(30);
    /** Emits acknowledged after a fault, to call it recovered. */
    private static final int RECOVERED = 50;

    private ChaosProxy proxy;
    private Keel keel;
    private SteadyLoad load;

    @BeforeEach
    void startRuntime() throws Exception {
        String direct = server.newDatabase();
        Matcher m = Pattern.compile("//127\\.0\\.0\\.1:(\\d+)/(\\w+)").matcher(direct);
        assertThat(m.find()).isTrue();
        proxy = ChaosProxy.to("127.0.0.1", Integer.parseInt(m.group(1)));
        String url = "jdbc:postgresql://127.0.0.1:" + proxy.port() + "/" + m.group(2) + "?" + TIMEOUTS;
        keel = Keel.builder()
                .lanes(4)
                .journal(
                        JdbcJournal.builder().postgres(url, server.user(), null).build())
                .build();
        load = SteadyLoad.on(keel);
        keel.start();
        load.start();
        await().atMost(BOUND).until(() -> load.acknowledged() >= RECOVERED);
    }

    /** The driver's timeouts: a statement on a silent connection fails after 5 s instead of waiting for TCP. */
    static final String TIMEOUTS = "connectTimeout=2&socketTimeout=5";

    @AfterEach
    void stopRuntime() {
        if (load != null) {
            load.stop();
        }
        if (keel != null) {
            keel.close();
        }
        if (proxy != null) {
            proxy.close();
        }
    }

    @Test
    void shouldLoseNothingAndKeepKeyOrderUnderAddedLatency() {
        proxy.latency(Duration.ofMillis(50));
        int before = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= before + 20);
        proxy.latency(Duration.ZERO);

        assertRecovered();
        assertThat(load.failures()).isEmpty();
        report("latency 50 ms");
    }

    @Test
    void shouldLoseNothingWhenEveryConnectionIsDropped() {
        for (int round = 0; round < 3; round++) {
            int before = load.acknowledged();
            proxy.dropConnections();
            await().atMost(BOUND).until(() -> load.acknowledged() >= before + RECOVERED);
        }
        assertRecovered();
        assertTypedFailures();
        report("dropped connections x3");
    }

    @Test
    void shouldFailEmitsWithATypedErrorInATenSecondBlackholeAndRecoverOnItsOwn() {
        proxy.blackhole(Duration.ofSeconds(10));
        // The emit under way, if one is on the wire, fails once the driver's socket timeout (5 s) passes; the next
        // waits for a connection and succeeds after the heal. (When no statement was on the wire as the blackhole
        // began, none fails: the emits wait it out. Either way, whatever fails fails typed, and nothing is lost.)
        await().atMost(BOUND).until(() -> !proxy.blackholed());
        int healed = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= healed + RECOVERED);

        assertRecovered();
        assertTypedFailures();
        report("blackhole 10 s");
    }

    @Test
    void shouldFailEmitsWithATypedErrorWhileTheDatabaseRestartsAndRecoverOnItsOwn() {
        proxy.restart(Duration.ofSeconds(3));
        await().atMost(BOUND).until(() -> !load.failures().isEmpty());
        await().atMost(BOUND).until(proxy::accepting);
        int back = load.acknowledged();
        await().atMost(BOUND).until(() -> load.acknowledged() >= back + RECOVERED);

        assertRecovered();
        assertTypedFailures();
        report("restart, refused for 3 s");
    }

    /** Every acknowledged emit is delivered, in key order, without restarting anything. */
    private void assertRecovered() {
        load.stop();
        await().atMost(BOUND).until(() -> load.undelivered().isEmpty());
        assertThat(load.outOfOrder()).isEmpty();
    }

    private void assertTypedFailures() {
        assertThat(load.failures()).allSatisfy(f -> assertThat(f.error()).isInstanceOf(JournalException.class));
    }

    private void report(String scenario) {
        var failures = load.failures();
        System.out.printf(
                "chaos %s: %s; failures %d, longest failed wait %d ms, first error: %s%n",
                scenario,
                load,
                failures.size(),
                failures.stream().mapToLong(f -> f.waited().toMillis()).max().orElse(0),
                failures.isEmpty() ? "-" : failures.getFirst().error());
    }
}
