package dev.keel.internal.lanes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.AttemptError;
import dev.keel.Event;
import dev.keel.Subscription;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.DeadLetterStore;
import dev.keel.spi.EventLog;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/**
 * A runner that may not deliver (its lane paused by the store, or not held) while a retry is already due
 * sleeps until woken instead of asking again and again: a spinning runner takes a carrier thread, and two
 * of them took every thread of a two-core server. Counted, not timed: a spinning runner asks millions of
 * times in the window, a sleeping one a handful.
 */
class LaneWorkerIdleTest {
    private static final Duration WINDOW = Duration.ofMillis(600);

    private static final class Context implements LaneContext {
        final MemoryJournal journal = new MemoryJournal();
        final AtomicInteger asked = new AtomicInteger();
        final AtomicBoolean paused = new AtomicBoolean();
        final AtomicBoolean held = new AtomicBoolean(true);
        final AtomicInteger delivered = new AtomicInteger();
        volatile boolean running = true;
        final Telemetry telemetry = new Telemetry(new SimpleMeterRegistry(), null);

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

        @Override
        public long coarseNanos() {
            return System.nanoTime();
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

        @Override
        public Thread startRunner(String name, Runnable loop) {
            return Thread.ofVirtual().name(name).start(loop);
        }
    }

    /** A runtime with one subscription whose only event waits for a retry that is due already. */
    private static LaneWorker workerWithADueRetry(Context ctx) {
        ctx.journal.open(1);
        Event<Object> e = Event.builder("order.placed", (Object) 1).key("k").build();
        ctx.journal.append(new Append(0, e, null, null)).join();
        ctx.journal.openCursor("s", 0, 1);
        Pending due = new Pending(
                "s",
                0,
                1,
                "k",
                false,
                1,
                Instant.now().minusSeconds(5),
                List.of(AttemptError.of(1, Instant.now(), new IllegalStateException("x"))),
                0,
                e);
        ctx.journal.commit(new Commit("s", 0, Commit.UNCHANGED, List.of(due), List.of(), List.of(), List.of()));
        Subscription s = Subscription.builder("s")
                .types("order.*")
                .handler(Object.class, d -> ctx.delivered.incrementAndGet())
                .build();
        SubscriptionRuntime runtime = new SubscriptionRuntime(s, ctx, 1, Tally.ZERO);
        LaneWorker w = runtime.worker(0);
        w.loadNow();
        return w;
    }

    /**
     * Starts a runner held back by {@code holdBack}, counts how often it asks during the window, then lets it go
     * with {@code letGo} and waits for the delivery.
     */
    private static void assertSleepsThenDelivers(
            java.util.function.Consumer<Context> holdBack, java.util.function.BiConsumer<Context, LaneWorker> letGo)
            throws Exception {
        Context ctx = new Context();
        holdBack.accept(ctx);
        LaneWorker w = workerWithADueRetry(ctx);
        w.start();
        Thread.sleep(WINDOW);
        assertThat(ctx.asked.get())
                .as("times the runner asked whether it may deliver")
                .isLessThan(50);
        assertThat(ctx.delivered.get()).isZero();
        letGo.accept(ctx, w);
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(5)).until(() -> ctx.delivered.get() == 1);
        ctx.running = false;
        w.wake();
    }

    @Test
    void shouldSleepWhileAStoredPauseHoldsADueRetryBackAndDeliverOnceWoken() throws Exception {
        assertSleepsThenDelivers(ctx -> ctx.paused.set(true), (ctx, w) -> {
            ctx.paused.set(false);
            w.wake();
        });
    }

    @Test
    void shouldSleepOnALaneItDoesNotHoldAndDeliverOnceGranted() throws Exception {
        assertSleepsThenDelivers(ctx -> ctx.held.set(false), (ctx, w) -> {
            ctx.held.set(true);
            w.leaseChanged();
        });
    }
}
