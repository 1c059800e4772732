package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.spi.Commit;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Lane leases on Kafka where two instances race: an instance that lost a lane never takes it back by committing. */
class KafkaLeaseTest {
    private static final AtomicInteger TOPICS = new AtomicInteger();
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() throws Exception {
        broker.close();
    }

    private static KafkaJournal open(String topic) {
        KafkaJournal j = KafkaJournal.builder()
                .bootstrapServers(broker.bootstrapServers())
                .topic(topic)
                .replicationFactor(1)
                .build();
        j.open(4);
        return j;
    }

    private static Commit fenced(int lane, long cursor, long fence) {
        return new Commit("s", lane, cursor, List.of(), List.of(), List.of(), List.of(), Tally.ZERO, fence);
    }

    @Test
    void shouldNeverLetAnInstanceThatLostALaneFenceItsNewOwner() throws Exception {
        String topic = "lease-" + TOPICS.incrementAndGet();
        try (KafkaJournal a = open(topic);
                KafkaJournal b = open(topic)) {
            LaneLeases la = a.leases().orElseThrow();
            LaneLeases lb = b.leases().orElseThrow();
            long stale = la.heartbeat("a", Duration.ofMillis(500)).lanes().get(0);
            a.commit(fenced(0, 2, stale));
            // a stops heartbeating, as a paused process would: once its leases expire, b's heartbeat takes lane 0.
            LaneLeases.Held[] held = new LaneLeases.Held[1];
            await().atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> (held[0] = lb.heartbeat("b", Duration.ofSeconds(30)))
                            .lanes()
                            .containsKey(0));
            LaneLeases.Held taken = held[0];
            long fresh = taken.lanes().get(0);
            assertThat(fresh).isGreaterThan(stale);

            // a wakes up and flushes what it held back, twice: each is refused, and neither restarts the lane's
            // producer, which would fence b.
            assertThatThrownBy(() -> a.commit(fenced(0, 9, stale))).isInstanceOf(LeaseLostException.class);
            assertThatThrownBy(() -> a.commit(fenced(0, 10, stale))).isInstanceOf(LeaseLostException.class);
            b.commit(fenced(0, 5, fresh));
            b.commit(fenced(0, 6, fresh));
            assertThat(a.cursor("s", 0)).hasValue(6);
            assertThat(la.heartbeat("a", Duration.ofSeconds(30)).lanes()).doesNotContainKey(0);
        }
    }

    @Test
    void shouldGiveEachLaneToOneOfTwoInstancesStartingTogether() throws Exception {
        String topic = "lease-" + TOPICS.incrementAndGet();
        try (KafkaJournal a = open(topic);
                KafkaJournal b = open(topic)) {
            for (int round = 0; round < 3; round++) {
                CompletableFuture<LaneLeases.Held> ha = CompletableFuture.supplyAsync(
                        () -> a.leases().orElseThrow().heartbeat("a", Duration.ofSeconds(30)));
                CompletableFuture<LaneLeases.Held> hb = CompletableFuture.supplyAsync(
                        () -> b.leases().orElseThrow().heartbeat("b", Duration.ofSeconds(30)));
                Set<Integer> both = new HashSet<>(ha.join().lanes().keySet());
                both.retainAll(hb.join().lanes().keySet());
                assertThat(both)
                        .as("lanes both instances think they hold, round %d", round)
                        .isEmpty();
            }
            // Each commits on what it holds, and no commit of one fences the other's.
            for (var e : a.leases()
                    .orElseThrow()
                    .heartbeat("a", Duration.ofSeconds(30))
                    .lanes()
                    .entrySet()) {
                a.commit(fenced(e.getKey(), 3, e.getValue()));
            }
            for (var e : b.leases()
                    .orElseThrow()
                    .heartbeat("b", Duration.ofSeconds(30))
                    .lanes()
                    .entrySet()) {
                b.commit(fenced(e.getKey(), 3, e.getValue()));
            }
        }
    }
}
