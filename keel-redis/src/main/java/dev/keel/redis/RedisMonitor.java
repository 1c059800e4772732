package dev.keel.redis;

import dev.keel.ComponentHealth;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches one use of Redis (the journal, the append notices, the cache): a {@code PING} every interval on a
 * connection of its own, connecting again with a growing back-off while Redis is away, and the errors its user
 * reports. Its {@link #check()} answers from the last measurement: {@code HEALTHY}; {@code DEGRADED} when Redis is
 * away and the user can do without it; {@code CRITICAL} when it is away and the user cannot (the journal).
 *
 * <p>Meters, tagged {@code component}: {@code keel.redis.ping} (a timer), {@code keel.redis.errors} (PINGs and
 * the user's commands that failed), {@code keel.redis.up} (1 or 0). Lettuce's own meters of every command sent
 * ({@code lettuce.command.completion}) come from the client resources the user creates with the same registry.
 *
 * <p>Threads: one virtual thread ({@code keel-redis-monitor-<component>}) owns the connection and writes the last
 * state, an immutable value behind an atomic reference that any thread reads.
 */
final class RedisMonitor implements ComponentHealth.Check, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisMonitor.class);

    /** What the last round measured. */
    private record State(boolean up, long pingMicros, String lastError, Instant since) {}

    private final String component;
    private final RedisClient client;
    private final String where;
    private final boolean required;
    private final Duration interval;
    private final AtomicReference<State> state;
    private final LongAdder errors = new LongAdder();
    private final Timer pings;
    private final Counter errorCount;
    private final Thread thread;
    private volatile boolean closed;

    RedisMonitor(
            String component,
            RedisClient client,
            String where,
            boolean required,
            Duration interval,
            boolean upAtStart,
            MeterRegistry registry) {
        this.component = component;
        this.client = client;
        this.where = where;
        this.required = required;
        this.interval = interval;
        this.state = new AtomicReference<>(new State(upAtStart, -1, null, Instant.now()));
        this.pings = registry == null
                ? null
                : Timer.builder("keel.redis.ping")
                        .description("Round trips of the PING each Redis user sends every interval")
                        .tag("component", component)
                        .register(registry);
        this.errorCount = registry == null
                ? null
                : Counter.builder("keel.redis.errors")
                        .description("Redis commands that failed (PINGs and the component's own)")
                        .tag("component", component)
                        .register(registry);
        if (registry != null) {
            Gauge.builder("keel.redis.up", this, m -> m.state.get().up ? 1 : 0)
                    .description("1 while the component reaches Redis, 0 while it does not")
                    .tag("component", component)
                    .register(registry);
        }
        this.thread = Thread.ofVirtual().name("keel-redis-monitor-" + component).start(this::run);
    }

    /** Whether Redis answered the last PING, and no command of the component failed since. */
    boolean up() {
        return state.get().up;
    }

    /**
     * A command of the component failed: counted; and when Redis could not be reached (no connection, a timeout),
     * the component shows it until the next good PING. An error Redis answered (a script's, a busy server's) is only
     * counted: one such answer does not make every instance unready at once.
     */
    void failed(RuntimeException e) {
        errors.increment();
        if (errorCount != null) {
            errorCount.increment();
        }
        State s = state.get();
        if (s.up && unreachable(e)) {
            state.set(new State(false, s.pingMicros, String.valueOf(e.getMessage()), Instant.now()));
        }
    }

    private static boolean unreachable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof io.lettuce.core.RedisConnectionException
                    || t instanceof io.lettuce.core.RedisCommandTimeoutException
                    || t instanceof java.io.IOException
                    || String.valueOf(t.getMessage()).contains("not connected")
                    || String.valueOf(t.getMessage()).contains("Connection closed")) {
                return true;
            }
        }
        return false;
    }

    private void run() {
        StatefulRedisConnection<String, String> connection = null;
        Duration backoff = interval;
        while (!closed) {
            try {
                if (connection == null) {
                    connection = client.connect();
                }
                long start = System.nanoTime();
                connection.sync().ping();
                long micros = (System.nanoTime() - start) / 1_000;
                if (pings != null) {
                    pings.record(micros, TimeUnit.MICROSECONDS);
                }
                State before = state.get();
                if (!before.up) {
                    log.info("Redis at {} is reachable again for the {}", where, component);
                }
                state.set(new State(true, micros, null, before.up ? before.since : Instant.now()));
                backoff = interval;
            } catch (RedisException e) {
                errors.increment();
                if (errorCount != null) {
                    errorCount.increment();
                }
                State before = state.get();
                if (before.up) {
                    log.warn("Redis at {} is unreachable for the {}: {}", where, component, e.getMessage());
                }
                state.set(new State(
                        false,
                        before.pingMicros,
                        String.valueOf(e.getMessage()),
                        before.up ? Instant.now() : before.since));
                if (connection != null && !connection.isOpen()) {
                    connection = null;
                }
                backoff = RedisClients.longer(backoff);
            }
            try {
                Thread.sleep(state.get().up ? interval : backoff);
            } catch (InterruptedException e) {
                break;
            }
        }
        if (connection != null) {
            connection.close();
        }
    }

    @Override
    public ComponentHealth check() {
        State s = state.get();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("server", where);
        details.put("pingMillis", s.pingMicros < 0 ? null : s.pingMicros / 1000.0);
        details.put("errors", errors.sum());
        details.put("since", s.since.toString());
        if (s.lastError != null) {
            details.put("lastError", s.lastError);
        }
        details.values().removeIf(java.util.Objects::isNull);
        if (s.up) {
            return new ComponentHealth(component, ComponentHealth.Status.HEALTHY, null, details);
        }
        return new ComponentHealth(
                component,
                required ? ComponentHealth.Status.CRITICAL : ComponentHealth.Status.DEGRADED,
                "Redis at " + where + " is unreachable since " + s.since + " (" + s.lastError + ")"
                        + (required ? "" : "; working without it meanwhile"),
                details);
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(Duration.ofSeconds(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
