package dev.keel.internal.lanes;

import dev.keel.internal.telemetry.Telemetry;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One platform thread ({@code keel-watchdog}) that ticks every 5 ms: it advances the runtime's coarse clock
 * (which timed deliveries stamp their start with, so the hot path reads no clock), and asks each timed worker
 * to {@link LaneWorker#watch} its delivery in flight. A stamp taken while this thread was held back (a long
 * garbage collection, a starved machine) is older than the delivery; the worker then reckons the start from
 * when this thread first saw the delivery, less a tick, so a timeout never fires early by more than a tick. It owns the coarse clock; it never touches a lane's
 * state except by winning the hand-over described in {@link LaneWorker}.
 */
public final class Watchdog {
    private static final Logger log = LoggerFactory.getLogger(Watchdog.class);
    /** How often it ticks; a delivery's age it reckons is never more than one tick above the truth. */
    static final long TICK_NANOS = Duration.ofMillis(5).toNanos();

    private final SubscriptionTable subscriptions;
    private final Telemetry telemetry;
    private final long origin = System.nanoTime();
    private volatile long coarseNanos = 1;
    private volatile boolean stopped;
    private final Thread thread;

    public Watchdog(SubscriptionTable subscriptions, Telemetry telemetry) {
        this.subscriptions = subscriptions;
        this.telemetry = telemetry;
        this.thread = Thread.ofPlatform().daemon().name("keel-watchdog").unstarted(this::loop);
    }

    public Watchdog start() {
        thread.start();
        return this;
    }

    /** Nanoseconds since the runtime was built, refreshed each tick. */
    public long coarseNanos() {
        return coarseNanos;
    }

    private void loop() {
        while (!stopped) {
            LockSupport.parkNanos(TICK_NANOS);
            long now = System.nanoTime() - origin + 1;
            coarseNanos = now;
            telemetry.refresh();
            for (SubscriptionRuntime s : subscriptions.all()) {
                if (s.subscription().policy().timeout() == null) {
                    continue;
                }
                for (LaneWorker w : s.workers()) {
                    try {
                        w.watch(now);
                    } catch (RuntimeException | Error e) {
                        log.error("watchdog failed on subscription '{}' lane {}; it goes on", s.name(), w.lane(), e);
                    }
                }
            }
        }
    }

    /** Stops ticking. */
    public void stop() {
        stopped = true;
        LockSupport.unpark(thread);
        try {
            thread.join(Duration.ofSeconds(1));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
