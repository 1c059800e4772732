package dev.keel.internal.lanes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.AttemptError;
import dev.keel.Event;
import dev.keel.Subscription;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A runner that may not deliver (its lane paused by the store, or not held) while a retry is already due
 * sleeps until woken instead of asking again and again: a spinning runner takes a carrier thread, and two
 * of them took every thread of a two-core server. Counted, not timed: a spinning runner asks millions of
 * times in the window, a sleeping one a handful.
 */
class LaneWorkerIdleTest {
    private static final Duration WINDOW = Duration.ofMillis(600);

    /** A runtime with one subscription whose only event waits for a retry that is due already. */
    private static LaneWorker workerWithADueRetry(TestLaneContext ctx) {
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
            java.util.function.Consumer<TestLaneContext> holdBack,
            java.util.function.BiConsumer<TestLaneContext, LaneWorker> letGo)
            throws Exception {
        TestLaneContext ctx = new TestLaneContext();
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
