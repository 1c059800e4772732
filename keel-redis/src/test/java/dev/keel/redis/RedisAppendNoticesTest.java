package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.ComponentHealth;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** Append notices between instances on Redis's publish and subscribe, and what happens while Redis is away. */
class RedisAppendNoticesTest {

    @Test
    void shouldTellOtherInstancesOfAnAppendButNotItself() throws Exception {
        try (LocalRedis redis = LocalRedis.start();
                RedisAppendNotices a = RedisAppendNotices.connect(redis.url(), "n", null);
                RedisAppendNotices b = RedisAppendNotices.connect(redis.url(), "n", null);
                RedisAppendNotices other = RedisAppendNotices.connect(redis.url(), "another", null)) {
            List<Integer> toA = new CopyOnWriteArrayList<>();
            List<Integer> toB = new CopyOnWriteArrayList<>();
            List<Integer> toOther = new CopyOnWriteArrayList<>();
            a.watch((lane, seq) -> toA.add(lane));
            b.watch((lane, seq) -> toB.add(lane));
            other.watch((lane, seq) -> toOther.add(lane));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> a.check().status() == ComponentHealth.Status.HEALTHY
                            && b.check().status() == ComponentHealth.Status.HEALTHY);
            // Connected in the background: publish until b hears, then once more with a lane of its own.
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                a.published(3, 7);
                return toB.contains(3);
            });
            a.published(5, 1);
            await().atMost(Duration.ofSeconds(10)).until(() -> toB.contains(5));
            assertThat(toA).as("an instance's own appends").isEmpty();
            assertThat(toOther).as("another deployment's prefix").isEmpty();
        }
    }

    @Test
    void shouldDegradeWhileRedisIsAwayWithoutBlockingAndHealWhenItReturns() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (LocalRedis redis = LocalRedis.start();
                RedisAppendNotices a = RedisAppendNotices.connect(redis.url(), "n", registry);
                RedisAppendNotices b = RedisAppendNotices.connect(redis.url(), "n", null)) {
            List<Integer> toB = new CopyOnWriteArrayList<>();
            b.watch((lane, seq) -> toB.add(lane));
            await().atMost(Duration.ofSeconds(10)).until(() -> a.check().status() == ComponentHealth.Status.HEALTHY);
            redis.kill();
            for (int i = 0; i < 1_000; i++) {
                a.published(1, i); // never blocks, never throws
            }
            // Degraded as soon as the notices stop; said to be unreachable once a PING or a publish failed.
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> a.check().status() == ComponentHealth.Status.DEGRADED
                            && a.check().reason().contains("unreachable"));
            ComponentHealth h = a.check();
            assertThat(h.name()).isEqualTo("redis-notices");
            assertThat(h.reason()).contains("unreachable").contains("working without it");
            assertThat(registry.get("keel.redis.up").gauge().value()).isZero();
            assertThat(registry.get("keel.redis.errors").counter().count()).isPositive();

            redis.restart();
            await().atMost(Duration.ofSeconds(60)).until(() -> a.check().status() == ComponentHealth.Status.HEALTHY);
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                a.published(2, 1);
                return toB.contains(2);
            });
            assertThat(registry.get("keel.redis.up").gauge().value()).isEqualTo(1);
        }
    }

    @Test
    void shouldStartDegradedWhenRedisIsUnreachableAtStart() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        // Nothing waits for an absent Redis: connecting and publishing return while it is away (bounded, not timed).
        RedisAppendNotices n =
                org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                    RedisAppendNotices made = RedisAppendNotices.connect("redis://127.0.0.1:" + port, "n", null);
                    made.published(0, 1);
                    return made;
                });
        try (n) {
            assertThat(n.live()).isFalse();
            await().atMost(Duration.ofSeconds(30)).until(() -> n.check().status() == ComponentHealth.Status.DEGRADED);
        }
    }
}
