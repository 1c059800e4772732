package dev.keel.redis;

import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.function.Function;

/**
 * A Redis journal's settings, read once from the environment at start ({@code KEEL_STORE=redis}):
 *
 * <table>
 *   <caption>Environment variables</caption>
 *   <tr><th>variable</th><th>meaning</th><th>default</th></tr>
 *   <tr><td>{@code KEEL_REDIS_URL}</td><td>{@code redis://[user:password@]host:port[/db]}, or {@code rediss://} for TLS; with another engine, the Redis whose publish and subscribe wake every instance at each append</td><td>required</td></tr>
 *   <tr><td>{@code KEEL_REDIS_PREFIX}</td><td>the key prefix; Keel's keys are {@code {prefix}:...}</td><td>{@code keel}</td></tr>
 *   <tr><td>{@code KEEL_REDIS_TIMEOUT}</td><td>to connect, and for each command ({@code 10s}, {@code 500ms})</td><td>{@code 10s}</td></tr>
 *   <tr><td>{@code KEEL_REDIS_WAIT_REPLICAS}</td><td>replicas that must confirm each append ({@code WAIT}) before it is acknowledged</td><td>0</td></tr>
 *   <tr><td>{@code KEEL_LANES}</td><td>lanes, each a stream</td><td>8</td></tr>
 * </table>
 *
 * @param url the server
 * @param prefix the key prefix
 * @param timeout how long to wait to connect and for each command
 * @param waitReplicas replicas that must confirm an append, 0 for none
 */
public record RedisSettings(String url, String prefix, Duration timeout, int waitReplicas) {

    public RedisSettings {
        if (url == null || url.isBlank()) {
            throw new IllegalArgumentException("KEEL_STORE=redis needs KEEL_REDIS_URL, such as redis://127.0.0.1:6379");
        }
    }

    /**
     * Reads the settings from environment variables (see the class description), with durations read as the rest of
     * the caller's settings are.
     */
    public static RedisSettings fromEnvironment(Map<String, String> env, Function<String, Duration> durations) {
        String replicas = env.getOrDefault("KEEL_REDIS_WAIT_REPLICAS", "0").trim();
        int n;
        try {
            n = Integer.parseInt(replicas);
            if (n < 0 || n > 16) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "KEEL_REDIS_WAIT_REPLICAS must be a whole number from 0 to 16 but was '" + replicas + "'");
        }
        return new RedisSettings(
                env.get("KEEL_REDIS_URL"),
                env.getOrDefault("KEEL_REDIS_PREFIX", RedisJournal.DEFAULT_PREFIX)
                        .trim(),
                timeout(env.getOrDefault("KEEL_REDIS_TIMEOUT", "10s"), durations),
                n);
    }

    private static Duration timeout(String text, Function<String, Duration> durations) {
        Duration d;
        try {
            d = durations.apply(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("KEEL_REDIS_TIMEOUT: " + e.getMessage(), e);
        }
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException("KEEL_REDIS_TIMEOUT must be positive but was '" + text + "'");
        }
        return d;
    }

    /** A new, unopened journal for these settings, its meters in the registry (or none when null). */
    public RedisJournal journal(MeterRegistry registry) {
        RedisJournal.Builder b = RedisJournal.builder().url(url).prefix(prefix).timeout(timeout);
        if (registry != null) {
            b.meterRegistry(registry);
        }
        if (waitReplicas > 0) {
            b.waitForReplicas(waitReplicas, timeout);
        }
        return b.build();
    }

    /**
     * Append notices on this Redis, for instances sharing another engine: it connects in the background, and an
     * unreachable Redis only degrades them.
     */
    public RedisAppendNotices appendNotices(MeterRegistry registry) {
        return RedisAppendNotices.connect(url, prefix, registry);
    }

    /** The census of event streams on this Redis, each instance's counts living 15 s past its last report. */
    public RedisStreamCensus streamCensus(MeterRegistry registry) {
        return RedisStreamCensus.connect(url, prefix, Duration.ofSeconds(15), registry);
    }
}
