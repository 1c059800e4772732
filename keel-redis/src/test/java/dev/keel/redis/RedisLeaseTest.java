package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Event;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Lane leases on Redis where two instances race: one that lost a lane never writes for it again. */
class RedisLeaseTest {
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static LocalRedis redis;

    @BeforeAll
    static void startRedis() throws Exception {
        redis = LocalRedis.start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        redis.close();
    }

    private static RedisJournal open(String prefix) {
        RedisJournal j = RedisJournal.builder().url(redis.url()).prefix(prefix).build();
        j.open(4);
        return j;
    }

    private static Commit fenced(int lane, long cursor, long fence, List<Pending> upserts) {
        return new Commit("s", lane, cursor, upserts, List.of(), List.of(), List.of(), Tally.ZERO, fence);
    }

    @Test
    void shouldNeverLetAnInstanceThatLostALaneWriteForItAndHandItsPendingEntriesOver() throws Exception {
        String prefix = "lease-" + PREFIXES.incrementAndGet();
        try (RedisJournal a = open(prefix);
                RedisJournal b = open(prefix);
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<String, String> cli = client.connect()) {
            var event = Event.builder("doc.saved", (Object) "x").key("k").build();
            a.append(List.of(new Append(0, event, null, null), new Append(0, event, null, null)))
                    .join();
            LaneLeases la = a.leases().orElseThrow();
            LaneLeases lb = b.leases().orElseThrow();
            long stale = la.heartbeat("a", Duration.ofMillis(500)).lanes().get(0);
            Pending retry = new Pending("s", 0, 2, "k", false, 1, Instant.now().plusSeconds(60), List.of(), 0, event);
            a.openCursor("s", 0, 0);
            a.commit(fenced(0, 2, stale, List.of(retry)));
            String stream = a.keyPrefix() + "log:0";
            assertThat(cli.sync().xpending(stream, "s").getConsumerMessageCount())
                    .containsOnlyKeys("a");

            // a stops heartbeating, as a paused process would: once its leases expire, b's heartbeat takes lane 0.
            LaneLeases.Held[] held = new LaneLeases.Held[1];
            await().atMost(Duration.ofSeconds(10))
                    .pollInterval(Duration.ofMillis(200))
                    .until(() -> (held[0] = lb.heartbeat("b", Duration.ofSeconds(30)))
                            .lanes()
                            .containsKey(0));
            long fresh = held[0].lanes().get(0);
            assertThat(fresh).isGreaterThan(stale);
            // b took over what the group listed as pending for a, and a is gone from the group.
            assertThat(cli.sync().xpending(stream, "s").getConsumerMessageCount())
                    .containsOnlyKeys("b");
            assertThat(b.pending("s", 0)).extracting(Pending::sequence).containsExactly(2L);

            assertThatThrownBy(() -> a.commit(fenced(0, 9, stale, List.of()))).isInstanceOf(LeaseLostException.class);
            assertThat(a.cursor("s", 0)).hasValue(2);
            b.commit(fenced(0, 5, fresh, List.of()));
            assertThat(a.cursor("s", 0)).hasValue(5);
            assertThat(la.heartbeat("a", Duration.ofSeconds(30)).lanes()).doesNotContainKey(0);
        }
    }

    @Test
    void shouldGiveEachLaneToOneOfTwoInstancesStartingTogether() {
        String prefix = "lease-" + PREFIXES.incrementAndGet();
        try (RedisJournal a = open(prefix);
                RedisJournal b = open(prefix)) {
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
            var heldByA = a.leases().orElseThrow().heartbeat("a", Duration.ofSeconds(30));
            var heldByB = b.leases().orElseThrow().heartbeat("b", Duration.ofSeconds(30));
            assertThat(heldByA.fairShare()).isEqualTo(2);
            assertThat(heldByA.lanes().size() + heldByB.lanes().size()).isLessThanOrEqualTo(4);
            heldByA.lanes().forEach((lane, token) -> a.commit(fenced(lane, 3, token, List.of())));
            heldByB.lanes().forEach((lane, token) -> b.commit(fenced(lane, 3, token, List.of())));
        }
    }
}
