package dev.keel.server;

import dev.keel.ComponentHealth;
import dev.keel.KeelException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts a server's components one after another, in the order their dependencies need, each within a timeout of
 * its own, and remembers how each went for {@code /health/startup}. A required component that fails or times out
 * stops the start with a {@link StartupFailedException} naming it; an optional one starts degraded instead, with the
 * reason, and whatever depends on it is skipped the same way.
 *
 * <pre>{@code
 * Startup startup = new Startup();
 * Journal journal = startup.required("journal", Duration.ofSeconds(60), List.of(), settings::journal);
 * Optional<RedisAppendNotices> notices =
 *         startup.optional("redis-notices", Duration.ofSeconds(10), List.of(), redis::appendNotices);
 * }</pre>
 *
 * <p>The thread that starts the server calls {@code required} and {@code optional}; request threads read
 * {@link #steps()}. Every method is synchronized on the instance, except that the component itself starts on a
 * virtual thread of its own (its start is blocking I/O) while the caller waits for it without the lock.
 */
public final class Startup {
    private static final Logger log = LoggerFactory.getLogger(Startup.class);

    /** How a component's start went. */
    public enum State {
        /** Under way. */
        STARTING,
        /** Started. */
        STARTED,
        /** An optional component that failed, timed out, or whose dependency did: the server runs without it. */
        DEGRADED,
        /** A required component that failed or timed out: the server did not start. */
        FAILED
    }

    /**
     * One component's start.
     *
     * @param name the component
     * @param optional whether the server starts without it
     * @param dependsOn the components started before it that it needs
     * @param state how it went
     * @param took how long it took (so far, while starting)
     * @param reason why it is degraded or failed; null otherwise
     */
    public record Step(
            String name, boolean optional, List<String> dependsOn, State state, Duration took, String reason) {
        public Step {
            dependsOn = List.copyOf(dependsOn);
        }
    }

    /** Thrown when a required component fails to start or does not start in time. */
    public static final class StartupFailedException extends KeelException {
        private static final long serialVersionUID = 1L;

        StartupFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final LongSupplier nanos;
    private final Map<String, Step> steps = new LinkedHashMap<>();
    private final Map<String, Long> startedAt = new LinkedHashMap<>();

    /** A start timed by the system's monotonic clock. */
    public Startup() {
        this(System::nanoTime);
    }

    Startup(LongSupplier nanos) {
        this.nanos = nanos;
    }

    /**
     * Starts a component the server cannot run without.
     *
     * @param name its name, unique in this start
     * @param timeout how long its start may take
     * @param dependsOn components started before it that it needs
     * @param start what starts it (blocking); its result is returned, and closed if it is {@link AutoCloseable} and
     *     arrives after the timeout
     * @throws StartupFailedException when it does not start in time or a dependency did not start
     * @throws RuntimeException what its start threw, as it threw it (a configuration error, the journal's)
     */
    public <T> T required(String name, Duration timeout, List<String> dependsOn, Callable<T> start) {
        Outcome<T> o = run(name, false, timeout, dependsOn, start);
        if (o.failure != null
                && o.cause instanceof RuntimeException e
                && !(o.cause instanceof StartupFailedException)) {
            throw e; // its own words (a configuration error, the journal's): callers tell them apart by type
        }
        if (o.failure != null) {
            throw new StartupFailedException("keel did not start: the component '" + name + "' " + o.failure, o.cause);
        }
        return o.value;
    }

    /**
     * Starts a component the server can run without: when it fails, does not start in time, or a dependency of it
     * did not start, it is shown degraded with the reason, and empty is returned.
     */
    public <T> Optional<T> optional(String name, Duration timeout, List<String> dependsOn, Callable<T> start) {
        Outcome<T> o = run(name, true, timeout, dependsOn, start);
        if (o.failure != null) {
            log.warn("the optional component '{}' {}; starting without it", name, o.failure, o.cause);
            return Optional.empty();
        }
        return Optional.ofNullable(o.value);
    }

    private record Outcome<T>(T value, String failure, Throwable cause) {}

    private <T> Outcome<T> run(
            String name, boolean optional, Duration timeout, List<String> dependsOn, Callable<T> start) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(start, "start");
        if (timeout == null || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException(
                    "the start timeout of '" + name + "' must be positive but was " + timeout);
        }
        String missing = begin(name, optional, dependsOn);
        if (missing != null) {
            return finish(name, optional, dependsOn, State.DEGRADED, missing, null);
        }
        CompletableFuture<T> task = new CompletableFuture<>();
        Thread thread = Thread.ofVirtual().name("keel-start-" + name).start(() -> {
            try {
                task.complete(start.call());
            } catch (Throwable e) {
                task.completeExceptionally(e);
            }
        });
        try {
            T value = task.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            finish(name, optional, dependsOn, State.STARTED, null, null);
            return new Outcome<>(value, null, null);
        } catch (TimeoutException e) {
            thread.interrupt();
            // A start that completes after all must not leak what it opened.
            task.thenAccept(Startup::closeQuietly);
            String why = "did not start within " + timeout + " (check that what it connects to is reachable)";
            return finish(name, optional, dependsOn, optional ? State.DEGRADED : State.FAILED, why, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            String why = "failed to start: " + cause.getMessage();
            return finish(name, optional, dependsOn, optional ? State.DEGRADED : State.FAILED, why, cause);
        } catch (InterruptedException e) {
            thread.interrupt();
            Thread.currentThread().interrupt();
            task.thenAccept(Startup::closeQuietly);
            return finish(name, optional, dependsOn, State.FAILED, "was interrupted while starting", e);
        }
    }

    /** Records the start; answers why it cannot start when a dependency did not. */
    private synchronized String begin(String name, boolean optional, List<String> dependsOn) {
        if (steps.containsKey(name)) {
            throw new IllegalArgumentException("the component '" + name + "' is started twice");
        }
        for (String d : dependsOn) {
            Step dep = steps.get(d);
            if (dep == null) {
                throw new IllegalArgumentException("the component '" + name + "' depends on '" + d
                        + "', which is not started before it: start '" + d + "' first");
            }
            if (dep.state() != State.STARTED) {
                steps.put(name, new Step(name, optional, dependsOn, State.STARTING, Duration.ZERO, null));
                startedAt.put(name, nanos.getAsLong());
                return "was not started because '" + d + "', which it needs, is "
                        + dep.state().name().toLowerCase() + (dep.reason() != null ? " (" + dep.reason() + ")" : "");
            }
        }
        steps.put(name, new Step(name, optional, dependsOn, State.STARTING, Duration.ZERO, null));
        startedAt.put(name, nanos.getAsLong());
        return null;
    }

    private synchronized <T> Outcome<T> finish(
            String name, boolean optional, List<String> dependsOn, State state, String reason, Throwable cause) {
        Duration took = Duration.ofNanos(nanos.getAsLong() - startedAt.get(name));
        if (state == State.FAILED && optional) {
            state = State.DEGRADED;
        } else if (state == State.DEGRADED && !optional) {
            state = State.FAILED;
        }
        steps.put(name, new Step(name, optional, dependsOn, state, took, reason));
        return new Outcome<>(null, reason, cause);
    }

    /** Each component's start so far, in the order they started; one still under way shows its time so far. */
    public synchronized List<Step> steps() {
        List<Step> out = new ArrayList<>(steps.size());
        long now = nanos.getAsLong();
        for (Step s : steps.values()) {
            out.add(
                    s.state() == State.STARTING
                            ? new Step(
                                    s.name(),
                                    s.optional(),
                                    s.dependsOn(),
                                    s.state(),
                                    Duration.ofNanos(now - startedAt.get(s.name())),
                                    null)
                            : s);
        }
        return out;
    }

    /**
     * The optional components that started degraded, as a health component (healthy when none did), so that a
     * server that started without one says so in {@code /health} until it restarts.
     */
    public ComponentHealth health() {
        List<ComponentHealth> parts = new ArrayList<>();
        for (Step s : steps()) {
            if (s.state() == State.DEGRADED) {
                parts.add(new ComponentHealth(
                        s.name(), ComponentHealth.Status.DEGRADED, "started without it: it " + s.reason(), Map.of()));
            }
        }
        return ComponentHealth.of("startup", Map.of(), parts);
    }

    private static void closeQuietly(Object late) {
        if (late instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                log.debug("closing a component that started too late failed", e);
            }
        }
    }
}
