package dev.keel.internal.lanes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.spi.Append;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The watchdog's take-over of a handler that ignores its interrupt, driven tick by tick on a test clock: the
 * timed-out attempt is recorded once, and the lane always keeps exactly one runner, even when no new runner
 * thread can be started and the stuck handler returns while the watchdog is still trying.
 */
class LaneWorkerTakeOverTest {
    private static final Duration TIMEOUT = Duration.ofMillis(100);
    private static final long T0 = 1_000_000_000L;

    /**
     * A worker whose handler gets stuck on the event keyed "stuck", ignoring interrupts until released, and
     * counts the others; with that event and one keyed "next" appended.
     */
    private static final class Lane {
        final TestLaneContext ctx = new TestLaneContext();
        final CountDownLatch stuck = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch returned = new CountDownLatch(1);
        final AtomicReference<Thread> stuckOn = new AtomicReference<>();
        final AtomicReference<Thread> deliveredOn = new AtomicReference<>();
        final LaneWorker worker;

        Lane() {
            ctx.journal.open(1);
            Subscription s = Subscription.builder("s")
                    .types("order.*")
                    .timeout(TIMEOUT)
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Object.class, d -> {
                        if (d.event().partitionKey().equals("stuck")) {
                            stuckOn.set(Thread.currentThread());
                            stuck.countDown();
                            while (true) {
                                try {
                                    release.await();
                                    returned.countDown();
                                    return;
                                } catch (InterruptedException ignored) {
                                    // this handler ignores its interrupt on purpose
                                }
                            }
                        }
                        deliveredOn.set(Thread.currentThread());
                        ctx.delivered.incrementAndGet();
                    })
                    .build();
            worker = new SubscriptionRuntime(s, ctx, 1, Tally.ZERO).worker(0);
            worker.loadNow();
            append("stuck");
            append("next");
        }

        void append(String key) {
            Event<Object> e =
                    Event.builder("order.placed", (Object) key).key(key).build();
            ctx.journal.append(new Append(0, e, null, null)).join();
        }

        /** Starts the runner on the test clock and waits until its handler is stuck. */
        void startStuck() throws InterruptedException {
            ctx.coarse = T0;
            worker.start();
            assertThat(stuck.await(5, TimeUnit.SECONDS)).isTrue();
        }

        void stop() {
            ctx.running = false;
            worker.wake();
        }
    }

    @Test
    void shouldKeepTheStuckThreadAsTheRunnerWhenNoNewRunnerCanStart() throws Exception {
        Lane lane = new Lane();
        TestLaneContext ctx = lane.ctx;
        LaneWorker w = lane.worker;
        // The watchdog cannot start a new runner; and while it tries, the stuck handler returns, finds its
        // delivery taken and waits for the watchdog's decision.
        ctx.onLaterRunner = () -> {
            lane.release.countDown();
            await().atMost(Duration.ofSeconds(5))
                    .until(() ->
                            lane.returned.getCount() == 0 && lane.stuckOn.get().getState() == Thread.State.WAITING);
            throw new IllegalStateException("no thread for a new runner");
        };
        lane.startStuck();
        Thread first = w.runnerThread();

        w.watch(T0); // first sighting
        w.watch(T0 + TIMEOUT.toNanos()); // interrupts, which the handler ignores
        assertThatThrownBy(() -> w.watch(T0 + 2 * TIMEOUT.toNanos()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no thread for a new runner");

        await().atMost(Duration.ofSeconds(5)).until(() -> ctx.delivered.get() == 1);
        assertThat(lane.deliveredOn.get())
                .as("the stuck thread carried on as the runner")
                .isSameAs(first);
        List<DeadLetter> dead = ctx.journal.deadLetters(DeadLetterQuery.all());
        assertThat(dead).singleElement().satisfies(d -> {
            assertThat(d.event().partitionKey()).isEqualTo("stuck");
            assertThat(d.reason()).contains("within its timeout of 100 ms");
        });

        lane.append("later");
        w.wake();
        await().atMost(Duration.ofSeconds(5)).until(() -> ctx.delivered.get() == 2);
        assertThat(w.runnerThread()).isSameAs(first);
        assertThat(ctx.runnersStarted.get()).as("runner threads started").isEqualTo(2);
        lane.stop();
    }

    @Test
    void shouldHandTheLaneToANewRunnerAndLetTheStuckThreadGo() throws Exception {
        Lane lane = new Lane();
        TestLaneContext ctx = lane.ctx;
        LaneWorker w = lane.worker;
        lane.startStuck();

        w.watch(T0);
        w.watch(T0 + TIMEOUT.toNanos());
        assertThat(w.delivering()).isTrue();
        w.watch(T0 + 2 * TIMEOUT.toNanos()); // takes over: a new runner records the timeout and goes on

        await().atMost(Duration.ofSeconds(5)).until(() -> ctx.delivered.get() == 1);
        Thread stuckOn = lane.stuckOn.get();
        assertThat(lane.deliveredOn.get()).isNotSameAs(stuckOn);
        assertThat(ctx.journal.deadLetters(DeadLetterQuery.all()))
                .singleElement()
                .satisfies(d -> assertThat(d.event().partitionKey()).isEqualTo("stuck"));

        lane.release.countDown(); // the stuck thread returns, finds its delivery taken, and leaves
        await().atMost(Duration.ofSeconds(5)).until(() -> !stuckOn.isAlive());
        lane.append("later");
        w.wake();
        await().atMost(Duration.ofSeconds(5)).until(() -> ctx.delivered.get() == 2);
        assertThat(ctx.journal.deadLetters(DeadLetterQuery.all())).hasSize(1);
        assertThat(w.runnerThread()).isNotSameAs(stuckOn).isNotNull();
        lane.stop();
    }
}
