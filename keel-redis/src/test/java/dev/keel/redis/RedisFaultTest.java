package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.Append;
import dev.keel.spi.JournalException;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Redis that is missing, shared with foreign data, or restarted under load. */
class RedisFaultTest {

    @Test
    void shouldFailWithAClearErrorInBoundedTimeWhenRedisIsUnreachable() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // nothing listens here once it closes
        }
        String url = "redis://127.0.0.1:" + port;
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
            RedisJournal journal = RedisJournal.builder()
                    .url(url)
                    .timeout(Duration.ofSeconds(2))
                    .build();
            assertThatThrownBy(() -> journal.open(4))
                    .isInstanceOf(JournalException.class)
                    .hasMessageContaining("cannot reach Redis at 127.0.0.1:" + port)
                    .hasMessageContaining("KEEL_REDIS_URL");
        });
    }

    @Test
    void shouldRefuseAPrefixThatHoldsForeignKeysAndAnotherLaneCount() throws Exception {
        try (LocalRedis redis = LocalRedis.start();
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<String, String> cli = client.connect()) {
            cli.sync().set("{shared}:sessions:42", "someone else's");
            assertThatThrownBy(() -> RedisJournal.builder()
                            .url(redis.url())
                            .prefix("shared")
                            .build()
                            .open(4))
                    .isInstanceOf(JournalException.class)
                    .hasMessageContaining("already holds keys Keel did not write")
                    .hasMessageContaining("{shared}:sessions:42");
            assertThat(cli.sync().keys("{shared}:*")).containsExactly("{shared}:sessions:42");

            try (RedisJournal j =
                    RedisJournal.builder().url(redis.url()).prefix("mine").build()) {
                j.open(4);
            }
            assertThatThrownBy(() -> RedisJournal.builder()
                            .url(redis.url())
                            .prefix("mine")
                            .build()
                            .open(8))
                    .isInstanceOf(JournalException.class)
                    .hasMessageContaining("holds a journal of 4 lanes")
                    .hasMessageContaining("opens it with 8");
        }
        assertThatThrownBy(() -> RedisJournal.builder().prefix("has space"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefix");
        assertThatThrownBy(() -> RedisJournal.builder().url("http://nope"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a Redis URL");
    }

    @Test
    void shouldReportTheJournalsRedisCriticalWhileItIsAwayAndHealthyOnceBack() throws Exception {
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (LocalRedis redis = LocalRedis.start();
                RedisJournal journal = RedisJournal.builder()
                        .url(redis.url())
                        .prefix("health")
                        .timeout(Duration.ofSeconds(1))
                        .pingInterval(Duration.ofMillis(200))
                        .meterRegistry(registry)
                        .build()) {
            journal.open(4);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> journal.check().status() == dev.keel.ComponentHealth.Status.HEALTHY);
            assertThat(journal.check().details()).containsKeys("pingMillis", "errors", "server");
            journal.head(0);
            // Lettuce's meters of every command the journal sends.
            assertThat(registry.find("lettuce.command.completion").timers()).isNotEmpty();

            redis.kill();
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> journal.check().status() == dev.keel.ComponentHealth.Status.CRITICAL);
            assertThat(journal.check().reason()).contains("unreachable");
            assertThatThrownBy(() -> journal.pending("s", 0)).isInstanceOf(JournalException.class);

            redis.restart();
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> journal.check().status() == dev.keel.ComponentHealth.Status.HEALTHY);
            assertThat(journal.pending("s", 0)).isEmpty();
        }
    }

    /**
     * Redis loses the last acknowledged appends of a lane (as a restart from an AOF synced once a second would): the
     * head is raised back, so new events never take the lost ones' sequences, which readers past them would skip.
     */
    @Test
    void shouldNeverGiveASequenceTwiceAfterRedisLostAcknowledgedAppends() throws Exception {
        try (LocalRedis redis = LocalRedis.start();
                RedisJournal journal =
                        RedisJournal.builder().url(redis.url()).prefix("loss").build();
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<String, String> cli = client.connect()) {
            journal.open(4);
            for (int i = 1; i <= 10; i++) {
                journal.append(new Append(0, event(i), null, null)).join();
            }
            // What a restart from an older AOF looks like: entries 8 to 10 and the head's last moves are gone.
            cli.sync().xdel("{loss}:log:0", "8-0", "9-0", "10-0");
            cli.sync().hset("{loss}:heads", "0", "7");
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> "10".equals(cli.sync().hget("{loss}:heads", "0")));
            assertThat(journal.head(0)).isEqualTo(10);
            assertThat(journal.append(new Append(0, event(11), null, null))
                            .join()
                            .sequence())
                    .isEqualTo(11);
        }
    }

    @Test
    void shouldRefuseToAppendAfterAnEntryKeelDidNotWrite() throws Exception {
        try (LocalRedis redis = LocalRedis.start();
                RedisJournal journal = RedisJournal.builder()
                        .url(redis.url())
                        .prefix("foreign")
                        .build();
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<String, String> cli = client.connect()) {
            journal.open(4);
            journal.append(new Append(1, event(1), null, null)).join();
            cli.sync().xadd("{foreign}:log:1", java.util.Map.of("someone", "else")); // an id from the clock
            assertThatThrownBy(() ->
                            journal.append(new Append(1, event(2), null, null)).join())
                    .hasCauseInstanceOf(JournalException.class)
                    .hasMessageContaining("did not write")
                    .hasMessageContaining("nothing was appended");
            assertThat(cli.sync().hget("{foreign}:heads", "1")).isEqualTo("1");
            // Other lanes go on.
            assertThat(journal.append(new Append(2, event(3), null, null))
                            .join()
                            .sequence())
                    .isEqualTo(1);
        }
    }

    /** With replicas required, an append completes once one confirms it, and fails (saying so) while none can. */
    @Test
    void shouldWaitForTheReplicaAndFailAnAppendNoneConfirms() throws Exception {
        try (LocalRedis primary = LocalRedis.start();
                LocalRedis replica = LocalRedis.replicaOf(primary);
                RedisJournal journal = RedisJournal.builder()
                        .url(primary.url())
                        .prefix("replicated")
                        .timeout(Duration.ofSeconds(2))
                        .waitForReplicas(1, Duration.ofMillis(500))
                        .build();
                RedisClient client = RedisClient.create(replica.url());
                StatefulRedisConnection<String, String> onReplica = client.connect()) {
            journal.open(4);
            long seq =
                    journal.append(new Append(0, event(1), null, null)).join().sequence();
            // Confirmed by the replica: it holds the event when the append completes.
            assertThat(onReplica
                            .sync()
                            .xrange("{replicated}:log:0", io.lettuce.core.Range.create(seq + "-0", seq + "-0")))
                    .hasSize(1);
            replica.kill();
            assertThatThrownBy(() ->
                            journal.append(new Append(0, event(2), null, null)).join())
                    .hasCauseInstanceOf(JournalException.class)
                    .hasMessageContaining("only 0 of the 1 replicas")
                    .hasMessageContaining("same dedup key is safe");
        }
    }

    private static dev.keel.Event<Object> event(int n) {
        return dev.keel.Event.builder("tick", (Object) n).key("k").build();
    }

    /**
     * Redis killed (SIGKILL) twice under load and started again on the same append-only file, synced on every
     * write: every emit acknowledged is delivered; emits while it is down fail with a typed error; the runtime
     * goes on by itself once Redis is back.
     */
    @Test
    void shouldLoseNothingAcknowledgedWhenRedisRestartsMidLoad() throws Exception {
        Set<Integer> acknowledged = ConcurrentHashMap.newKeySet();
        Set<Integer> delivered = ConcurrentHashMap.newKeySet();
        AtomicInteger refused = new AtomicInteger();
        try (LocalRedis redis = LocalRedis.start(LocalRedis.Persistence.AOF_ALWAYS)) {
            Keel keel = Keel.builder()
                    .lanes(4)
                    .leaseDuration(Duration.ofSeconds(2))
                    .journal(RedisJournal.builder()
                            .url(redis.url())
                            .prefix("restart")
                            .timeout(Duration.ofSeconds(2))
                            .build())
                    .subscription(Subscription.builder("count")
                            .types("tick")
                            .handler(Integer.class, d -> delivered.add(d.data()))
                            .build())
                    .build();
            try (keel) {
                keel.start();
                AtomicBoolean running = new AtomicBoolean(true);
                AtomicInteger next = new AtomicInteger();
                List<Thread> emitters = List.of(1, 2).stream()
                        .map(n -> Thread.ofPlatform().start(() -> {
                            while (running.get()) {
                                int i = next.getAndIncrement();
                                try {
                                    keel.emit("tick", "k" + (i % 16), i).join();
                                    acknowledged.add(i);
                                } catch (RuntimeException e) {
                                    refused.incrementAndGet();
                                    assertThat(rootOf(e)).isInstanceOf(JournalException.class);
                                    sleep(20);
                                }
                            }
                        }))
                        .toList();
                for (int round = 0; round < 2; round++) {
                    int before = acknowledged.size();
                    await().atMost(Duration.ofSeconds(30)).until(() -> acknowledged.size() > before + 300);
                    redis.kill();
                    int down = refused.get();
                    await().atMost(Duration.ofSeconds(10)).until(() -> refused.get() > down);
                    redis.restart();
                }
                int before = acknowledged.size();
                await().atMost(Duration.ofSeconds(60)).until(() -> acknowledged.size() > before + 300);
                running.set(false);
                for (Thread t : emitters) {
                    t.join();
                }
                await().atMost(Duration.ofSeconds(60)).until(() -> delivered.containsAll(acknowledged));
            }
        }
        assertThat(refused.get()).isPositive();
        assertThat(delivered).containsAll(acknowledged);
    }

    private static Throwable rootOf(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof JournalException)) {
            t = t.getCause();
        }
        return t;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
