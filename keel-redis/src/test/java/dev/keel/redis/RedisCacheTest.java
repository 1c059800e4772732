package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.ComponentHealth;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shared cache on a real Redis: typed values, time to live, LRU, compression, coherence, and Redis away. */
class RedisCacheTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static LocalRedis redis;

    record Price(String sku, long cents, List<String> tags) {}

    @BeforeAll
    static void startRedis() throws Exception {
        redis = LocalRedis.start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        redis.close();
    }

    private static String name() {
        return "prices-" + NAMES.incrementAndGet();
    }

    @Test
    void shouldStoreReadDeleteAndCountTypedValues() {
        try (RedisCache<Price> cache =
                RedisCache.builder(name(), Price.class).url(redis.url()).build()) {
            Price p = new Price("sku-1", 1999, List.of("sale"));
            assertThat(cache.get("sku-1")).isEmpty();
            cache.put("sku-1", p);
            cache.put("sku-2", new Price("sku-2", 5, List.of()));
            assertThat(cache.get("sku-1")).contains(p);
            assertThat(cache.contains("sku-2")).isTrue();
            assertThat(cache.size()).isEqualTo(2);
            assertThat(cache.delete("sku-2")).isTrue();
            assertThat(cache.delete("sku-2")).isFalse();
            assertThat(cache.contains("sku-2")).isFalse();
            cache.clear();
            assertThat(cache.size()).isZero();
            assertThat(cache.get("sku-1")).isEmpty();
            CacheStats s = cache.stats();
            assertThat(s.puts()).isEqualTo(2);
            assertThat(s.deletes()).isEqualTo(2);
            assertThat(s.misses()).isEqualTo(2);
            assertThat(s.localHits()).isEqualTo(1); // the put filled the near cache
        }
    }

    @Test
    void shouldExpireByTheDefaultOrTheKeysOwnTimeToLive() {
        try (RedisCache<String> cache = RedisCache.builder(name(), String.class)
                .url(redis.url())
                .defaultTtl(Duration.ofMinutes(5))
                .build()) {
            cache.put("short", "gone soon", Duration.ofMillis(300));
            cache.put("long", "stays");
            assertThat(cache.get("short")).contains("gone soon");
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> cache.get("short").isEmpty());
            assertThat(cache.get("long")).contains("stays");
            assertThat(cache.size()).isEqualTo(1);
        }
    }

    @Test
    void shouldEvictTheLeastRecentlyUsedKeyOverTheMaximum() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        String name = name();
        try (RedisCache<String> cache = RedisCache.builder(name, String.class)
                .url(redis.url())
                .maxKeys(3)
                .nearCacheSize(0) // every read goes to Redis, so it counts as a use there
                .meterRegistry(registry)
                .build()) {
            cache.put("a", "1");
            cache.put("b", "2");
            cache.put("c", "3");
            assertThat(cache.get("a")).contains("1"); // a is used again: b is now the least recently used
            cache.put("d", "4");
            assertThat(cache.get("b")).isEmpty();
            assertThat(cache.get("a")).contains("1");
            assertThat(cache.get("c")).contains("3");
            assertThat(cache.get("d")).contains("4");
            assertThat(cache.size()).isEqualTo(3);
            assertThat(cache.stats().evictions()).isEqualTo(1);
            assertThat(registry.get("keel.cache.evictions")
                            .tag("cache", name)
                            .functionCounter()
                            .count())
                    .isEqualTo(1);
            assertThat(registry.get("keel.cache.gets")
                            .tag("result", "redis-hit")
                            .functionCounter()
                            .count())
                    .isEqualTo(4);
            assertThat(registry.get("keel.cache.gets")
                            .tag("result", "miss")
                            .functionCounter()
                            .count())
                    .isEqualTo(1);
        }
    }

    @Test
    void shouldCompressLargeValuesAndRefuseOnesOverTheLimit() throws Exception {
        String name = name();
        String large = "abcdefgh".repeat(1_000);
        try (RedisCache<String> cache = RedisCache.builder(name, String.class)
                        .url(redis.url())
                        .compressAbove(1_024)
                        .maxValueBytes(16 * 1024)
                        .nearCacheSize(0)
                        .build();
                RedisClient client = RedisClient.create(redis.url());
                StatefulRedisConnection<byte[], byte[]> raw = client.connect(ByteArrayCodec.INSTANCE)) {
            cache.put("big", large);
            cache.put("small", "tiny");
            byte[] stored = raw.sync().get(("{keel-cache}:cache:" + name + ":v:big").getBytes(StandardCharsets.UTF_8));
            assertThat(stored[0]).isEqualTo((byte) 'z');
            assertThat(stored.length).isLessThan(large.length() / 10);
            byte[] small = raw.sync().get(("{keel-cache}:cache:" + name + ":v:small").getBytes(StandardCharsets.UTF_8));
            assertThat(new String(small, StandardCharsets.UTF_8)).isEqualTo("j\"tiny\"");
            assertThat(cache.get("big")).contains(large);

            String tooLarge = "x".repeat(20_000);
            assertThatThrownBy(() -> cache.put("huge", tooLarge))
                    .isInstanceOf(CacheValueTooLargeException.class)
                    .hasMessageContaining("'huge'")
                    .hasMessageContaining("over the limit of 16384 bytes");
            assertThat(cache.contains("huge")).isFalse();
        }
    }

    @Test
    void shouldDropNearCopiesOnOtherInstancesWhenAValueChanges() {
        String name = name();
        try (RedisCache<String> a =
                        RedisCache.builder(name, String.class).url(redis.url()).build();
                RedisCache<String> b =
                        RedisCache.builder(name, String.class).url(redis.url()).build()) {
            a.put("k", "v1");
            assertThat(b.get("k")).contains("v1");
            // b holds a near copy once a read of it did not race the put's own notice (such a read fills nothing).
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                assertThat(b.get("k")).contains("v1");
                return b.stats().localHits() >= 1;
            });
            a.put("k", "v2");
            await().atMost(Duration.ofSeconds(10)).until(() -> b.get("k").equals(java.util.Optional.of("v2")));
            a.delete("k");
            await().atMost(Duration.ofSeconds(10)).until(() -> b.get("k").isEmpty());
            a.put("x", "1");
            assertThat(b.get("x")).contains("1");
            a.clear();
            await().atMost(Duration.ofSeconds(10)).until(() -> b.get("x").isEmpty());
        }
    }

    @Test
    void shouldWorkLocallyWhileRedisIsAwayAndHealWhenItReturns() throws Exception {
        try (LocalRedis own = LocalRedis.start();
                RedisCache<String> cache = RedisCache.builder(name(), String.class)
                        .url(own.url())
                        .timeout(Duration.ofMillis(300))
                        .pingInterval(Duration.ofMillis(200))
                        .build()) {
            cache.put("kept", "in redis");
            assertThat(cache.check().status()).isEqualTo(ComponentHealth.Status.HEALTHY);
            own.kill();
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> cache.check().status() == ComponentHealth.Status.DEGRADED);
            assertThat(cache.check().reason()).contains("unreachable");
            cache.put("local", "only here");
            assertThat(cache.get("local")).contains("only here");
            assertThat(cache.get("kept")).contains("in redis"); // its near copy
            assertThat(cache.get("never")).isEmpty();

            own.restart(); // memory only: Redis comes back empty
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> cache.check().status() == ComponentHealth.Status.HEALTHY);
            // Redis is the cache again: what was kept only here, or cached before, is gone with the near cache.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> cache.get("local").isEmpty());
            assertThat(cache.get("kept")).isEmpty();
            cache.put("after", "back");
            assertThat(cache.size()).isEqualTo(1);
        }
    }

    @Test
    void shouldStartLocallyWhenRedisIsUnreachable() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (RedisCache<String> cache = RedisCache.builder(name(), String.class)
                .url("redis://127.0.0.1:" + port)
                .timeout(Duration.ofMillis(200))
                .build()) {
            assertThat(cache.check().status()).isEqualTo(ComponentHealth.Status.DEGRADED);
            cache.put("k", "v");
            assertThat(cache.get("k")).contains("v");
            assertThat(cache.size()).isEqualTo(1);
        }
    }

    @Test
    void shouldRefuseBadInput() {
        assertThatThrownBy(() -> RedisCache.builder("has space", String.class))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cache name");
        try (RedisCache<String> cache =
                RedisCache.builder(name(), String.class).url(redis.url()).build()) {
            assertThatThrownBy(() -> cache.put("", "v")).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> cache.put("k", "v", Duration.ZERO))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("time to live");
            assertThatThrownBy(() -> cache.get("k".repeat(2_000)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("1 to 1,024");
        }
    }
}
