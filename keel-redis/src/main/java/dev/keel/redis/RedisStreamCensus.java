package dev.keel.redis;

import dev.keel.ComponentHealth;
import io.lettuce.core.Range;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;

/**
 * How many event streams every instance of a deployment holds open, by tenant and by the type patterns they asked
 * for: each instance writes its own counts to Redis ({@code {prefix}:streams:<instance>}, a hash that expires
 * unless written again), and any instance reads the sum over the live ones. An instance that dies stops writing,
 * and its counts expire after the time to live; one that closes removes them at once.
 *
 * <p>Redis is optional here: while it is away, {@link #report} does nothing, {@link #read} is empty, and
 * {@link #check()} says {@code DEGRADED}; nothing waits longer than the timeout (1 s). Calls come from the server's
 * census thread and its stats requests, one at a time (the methods are synchronized, since a report is a
 * transaction on the one connection).
 */
public final class RedisStreamCensus implements AutoCloseable, ComponentHealth.Check {
    /** What a {@link #read} found: live instances and their streams summed, by tenant ("" for none) and types. */
    public record Census(int instances, Map<String, Map<String, Long>> byTenantAndTypes) {
        public Census {
            Map<String, Map<String, Long>> copy = new TreeMap<>();
            byTenantAndTypes.forEach((k, v) -> copy.put(k, Map.copyOf(v)));
            byTenantAndTypes = Map.copyOf(copy);
        }

        /** Streams of one tenant by their types (every tenant's, summed, when null). */
        public Map<String, Long> byTypes(String tenant) {
            if (tenant != null) {
                return byTenantAndTypes.getOrDefault(tenant, Map.of());
            }
            Map<String, Long> all = new TreeMap<>();
            byTenantAndTypes.values().forEach(m -> m.forEach((types, n) -> all.merge(types, n, Long::sum)));
            return all;
        }

        /** Streams of one tenant (every tenant's when null). */
        public long total(String tenant) {
            return byTypes(tenant).values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /** Between a tenant and its types in a hash field: a character neither holds. */
    private static final char SEPARATOR = '\u0000';

    private final String instance = UUID.randomUUID().toString();
    private final String base;
    private final Duration ttl;
    private final RedisClient client;
    private final RedisMonitor monitor;
    private volatile StatefulRedisConnection<String, String> connection;
    /** Set by close, under the lock: no report after it. */
    private boolean closed;

    private RedisStreamCensus(String url, String prefix, Duration ttl, MeterRegistry registry) {
        this.base = "{" + prefix + "}:streams:";
        this.ttl = ttl;
        RedisURI uri = RedisClients.uri(url);
        this.client = RedisClients.client(uri, Duration.ofSeconds(1), null);
        this.monitor = new RedisMonitor(
                "redis-streams", client, RedisClients.where(uri), false, Duration.ofSeconds(5), false, registry);
    }

    /**
     * A census on the Redis at the URL, under the key prefix the deployment's instances share; each instance's
     * counts live {@code ttl} past its last report (report more often than that).
     *
     * @throws IllegalArgumentException for a bad URL or prefix, or a time to live under a second
     */
    public static RedisStreamCensus connect(String url, String prefix, Duration ttl, MeterRegistry registry) {
        RedisClients.uri(url);
        RedisClients.prefix(prefix);
        if (ttl == null || ttl.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("the census's time to live must be at least 1 s but was " + ttl);
        }
        return new RedisStreamCensus(url, prefix, ttl, registry);
    }

    private StatefulRedisConnection<String, String> connection() {
        StatefulRedisConnection<String, String> c = connection;
        if (c == null) {
            c = client.connect(StringCodec.UTF8);
            connection = c;
        }
        return c;
    }

    /**
     * Replaces this instance's counts: streams by tenant (null for none) and by their types as asked for
     * ({@code order.*,invoice.paid}). Does nothing while Redis is away.
     */
    public synchronized void report(Map<String, Map<String, Integer>> byTenantAndTypes) {
        Objects.requireNonNull(byTenantAndTypes, "byTenantAndTypes");
        if (closed || !monitor.up()) {
            return;
        }
        Map<String, String> fields = new HashMap<>();
        byTenantAndTypes.forEach((tenant, byTypes) -> byTypes.forEach((types, n) -> {
            if (n > 0) {
                fields.put((tenant == null ? "" : tenant) + SEPARATOR + types, Integer.toString(n));
            }
        }));
        String key = base + instance;
        try {
            var redis = connection().sync();
            redis.multi();
            redis.del(key);
            if (!fields.isEmpty()) {
                redis.hset(key, fields);
                redis.pexpire(key, ttl.toMillis());
            }
            redis.zadd(base + "instances", System.currentTimeMillis() + ttl.toMillis(), instance);
            redis.zremrangebyscore(
                    base + "instances", Range.create(Double.NEGATIVE_INFINITY, System.currentTimeMillis()));
            redis.exec();
        } catch (RedisException e) {
            monitor.failed(e);
            discard();
        }
    }

    /** The streams of every live instance, summed; empty while Redis is away. */
    public synchronized Optional<Census> read() {
        if (!monitor.up()) {
            return Optional.empty();
        }
        try {
            var redis = connection().sync();
            List<String> live = redis.zrangebyscore(
                    base + "instances", Range.create(System.currentTimeMillis(), Double.POSITIVE_INFINITY));
            Map<String, Map<String, Long>> sum = new HashMap<>();
            for (String other : live) {
                redis.hgetall(base + other).forEach((field, count) -> {
                    int at = field.indexOf(SEPARATOR);
                    if (at >= 0) {
                        sum.computeIfAbsent(field.substring(0, at), t -> new HashMap<>())
                                .merge(field.substring(at + 1), Long.parseLong(count), Long::sum);
                    }
                });
            }
            return Optional.of(new Census(live.size(), sum));
        } catch (RedisException | NumberFormatException e) {
            if (e instanceof RedisException r) {
                monitor.failed(r);
                discard();
            }
            return Optional.empty();
        }
    }

    /** A transaction left open by a failure must not carry over to the next report. */
    private void discard() {
        StatefulRedisConnection<String, String> c = connection;
        connection = null;
        if (c != null) {
            c.closeAsync();
        }
    }

    /** {@code DEGRADED} while Redis is away: stats then show this instance's streams only. */
    @Override
    public ComponentHealth check() {
        return monitor.check();
    }

    /**
     * Removes this instance's counts (when Redis answers), and disconnects; after a report under way, so that none
     * writes them back.
     */
    @Override
    public synchronized void close() {
        try {
            if (monitor.up()) {
                var redis = connection().sync();
                redis.del(base + instance);
                redis.zrem(base + "instances", instance);
            }
        } catch (RedisException e) {
            // they expire by themselves
        } finally {
            closed = true;
            monitor.close();
            if (connection != null) {
                connection.close();
            }
            client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
        }
    }
}
