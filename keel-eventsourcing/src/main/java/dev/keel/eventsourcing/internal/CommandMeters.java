package dev.keel.eventsourcing.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** The meters of command handling, registered once per {@code EventSourcing}; Micrometer's, safe for any thread. */
public final class CommandMeters {
    private final MeterRegistry registry;
    private final Map<String, Timer> commands = new ConcurrentHashMap<>();
    public final Timer decide;
    public final Timer append;
    public final Counter conflicts;
    public final Counter snapshotLoads;
    public final Counter snapshotFailures;
    public final Counter carriedRejections;

    public CommandMeters(MeterRegistry registry) {
        this.registry = registry;
        this.decide = Timer.builder("keel.es.decide")
                .description("time to decide a command")
                .register(registry);
        this.append = Timer.builder("keel.es.append")
                .description("time to append a decision's events, until durable")
                .publishPercentiles(0.5, 0.95, 0.99)
                .register(registry);
        this.conflicts = Counter.builder("keel.es.conflicts")
                .description("appends that found their stream at another version")
                .register(registry);
        this.snapshotLoads = Counter.builder("keel.es.snapshot.loads")
                .description("loads that started from a snapshot")
                .register(registry);
        this.snapshotFailures = Counter.builder("keel.es.snapshot.unreadable")
                .description("snapshots ignored because they no longer read")
                .register(registry);
        this.carriedRejections = Counter.builder("keel.es.carried.rejections")
                .description("commands carried by effects that their decider rejected")
                .register(registry);
    }

    /** Counts and times a command by its aggregate type and outcome. */
    public void command(String type, String outcome, long nanos) {
        commands.computeIfAbsent(type + "/" + outcome, k -> Timer.builder("keel.es.commands")
                        .description("commands handled, by aggregate type and outcome")
                        .tag("aggregate", type)
                        .tag("outcome", outcome)
                        .publishPercentiles(0.5, 0.95, 0.99)
                        .register(registry))
                .record(nanos, TimeUnit.NANOSECONDS);
    }
}
