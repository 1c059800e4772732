package dev.keel.internal.lanes;

import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Commit;
import dev.keel.spi.DeadLetterStore;
import dev.keel.spi.EventLog;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;

/**
 * A {@link LaneContext} over a memory journal for tests of one {@link LaneWorker}: counts how often the worker
 * asks whether it may deliver, lets a test pause or withhold the lane, drive the coarse clock, and refuse to
 * start a runner.
 */
final class TestLaneContext implements LaneContext {
    final MemoryJournal journal = new MemoryJournal();
    final AtomicInteger asked = new AtomicInteger();
    final AtomicBoolean paused = new AtomicBoolean();
    final AtomicBoolean held = new AtomicBoolean(true);
    final AtomicInteger delivered = new AtomicInteger();
    volatile boolean running = true;
    final Telemetry telemetry = new Telemetry(new SimpleMeterRegistry(), null, false);

    @Override
    public EventLog log() {
        return journal;
    }

    @Override
    public DeadLetterStore deadLetterStore() {
        return journal;
    }

    @Override
    public Clock clock() {
        return Clock.systemUTC();
    }

    @Override
    public RandomGenerator random() {
        return new Random(1);
    }

    @Override
    public PayloadCodec codec() {
        return new PayloadCodec(PayloadCodec.defaultMapper());
    }

    @Override
    public Telemetry telemetry() {
        return telemetry;
    }

    @Override
    public DeliveryScope deliveryScope() {
        return new DeliveryScope();
    }

    @Override
    public int batchSize() {
        return 16;
    }

    /** The coarse clock, when a test drives it; 0: the system's. */
    volatile long coarse;

    @Override
    public long coarseNanos() {
        long c = coarse;
        return c != 0 ? c : System.nanoTime();
    }

    @Override
    public boolean running() {
        return running;
    }

    @Override
    public boolean stopping() {
        return false;
    }

    @Override
    public boolean holds(int lane) {
        asked.incrementAndGet();
        return held.get();
    }

    @Override
    public long fence(int lane) {
        return Commit.NO_FENCE;
    }

    @Override
    public boolean leased() {
        return false;
    }

    @Override
    public boolean pausedByStore(SubscriptionRuntime subscription) {
        asked.incrementAndGet();
        return paused.get();
    }

    @Override
    public void deadLettersChanged(SubscriptionRuntime subscription) {}

    /** Runners started so far. */
    final AtomicInteger runnersStarted = new AtomicInteger();

    /** Called instead of starting a runner after the first, when set: it may refuse by throwing. */
    volatile Runnable onLaterRunner;

    @Override
    public Thread startRunner(String name, Runnable loop) {
        Runnable later = onLaterRunner;
        if (runnersStarted.getAndIncrement() > 0 && later != null) {
            later.run();
        }
        return Thread.ofVirtual().name(name).start(loop);
    }
}
