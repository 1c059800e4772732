package dev.keel.internal.maintenance;

import dev.keel.DeadLetterAlert;
import dev.keel.internal.lanes.LaneWorker;
import dev.keel.internal.lanes.SubscriptionRuntime;
import dev.keel.internal.lanes.SubscriptionTable;
import dev.keel.spi.DeadLetterStore;
import dev.keel.spi.Journal;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.IntPredicate;
import java.util.function.IntToLongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runtime's housekeeping, on one platform thread ({@code keel-maintenance}) every 10 ms, or on the caller
 * of {@code process()}: reads the stored pauses, prunes what every subscription and reader has passed,
 * purges old dead letters, expires dedup records (with pruning), hands stored reprocess requests to the
 * workers of the lanes this instance holds, and keeps the dead-letter counts and alerts.
 */
public final class Maintenance {
    private static final Logger log = LoggerFactory.getLogger(Maintenance.class);
    private static final Duration INTERVAL = Duration.ofMillis(10);
    private static final Duration PURGE_EVERY = Duration.ofSeconds(1);
    private static final Duration ORDERS_EVERY = Duration.ofMillis(250);
    /**
     * Dead letters are counted again when this instance adds or removes one; other instances sharing the journal
     * change them too, so every subscription's are counted again this often (for health and the gauges).
     */
    private static final Duration RECOUNT_EVERY = Duration.ofSeconds(30);
    /** A reprocess order a worker has not carried out this long after it was handed over is handed over again. */
    private static final Duration ORDER_RESEND = Duration.ofSeconds(5);

    private static final int ORDERS_PER_READ = 256;

    /**
     * What it needs to know of its runtime.
     *
     * @param lanes the lanes of the log readers see
     * @param laneSpace the lanes the runtime delivers (twice as many with an in-memory tier)
     */
    public record Settings(
            int lanes,
            int laneSpace,
            Duration retention,
            Duration deadLetterRetention,
            long alertThreshold,
            Consumer<DeadLetterAlert> alertCallback) {}

    private final Journal journal;
    private final SubscriptionTable subscriptions;
    private final PauseBoard pauses;
    private final Clock clock;
    private final Settings settings;
    private final IntPredicate holds;
    private final long pruneIntervalNanos;
    private final List<IntToLongFunction> pruneHolds = new CopyOnWriteArrayList<>();
    private final ReentrantLock running = new ReentrantLock();

    // ---- owned by whoever holds `running` ----
    private long lastPrune = System.nanoTime() - Duration.ofDays(1).toNanos();
    private long lastPurge = lastPrune;
    private long lastRecount = lastPrune;
    private long lastOrders = lastPrune;
    private final Map<String, Long> handedOver = new HashMap<>();

    private volatile boolean stopped;
    private volatile boolean closed;
    private Thread thread;

    public Maintenance(
            Journal journal,
            SubscriptionTable subscriptions,
            PauseBoard pauses,
            Clock clock,
            Settings settings,
            IntPredicate holds) {
        this.journal = journal;
        this.subscriptions = subscriptions;
        this.pauses = pauses;
        this.clock = clock;
        this.settings = settings;
        this.holds = holds;
        this.pruneIntervalNanos = journal.pruneInterval().toNanos();
    }

    /** Starts the housekeeping thread. */
    public void start() {
        thread = Thread.ofPlatform().daemon().name("keel-maintenance").start(this::loop);
    }

    private void loop() {
        while (!stopped) {
            LockSupport.parkNanos(INTERVAL.toNanos());
            if (stopped) {
                return;
            }
            try {
                runOnce();
            } catch (RuntimeException e) {
                if (!stopped) {
                    log.warn("maintenance failed; trying again in {} ms", INTERVAL.toMillis(), e);
                }
            }
        }
    }

    /** Stops the thread and waits for a round under way; no round starts afterwards. */
    public void stop() {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
            try {
                t.join(Duration.ofSeconds(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        running.lock();
        try {
            closed = true;
        } finally {
            running.unlock();
        }
    }

    /** Keeps pruning from passing what a reader of the log has not read; see the runtime's log access. */
    public Runnable holdPruning(IntToLongFunction readTo) {
        pruneHolds.add(readTo);
        return () -> pruneHolds.remove(readTo);
    }

    /** One round, unless one runs already (then nothing). */
    public void runOnce() {
        if (closed || !running.tryLock()) {
            return;
        }
        boolean recount = false;
        try {
            if (closed) {
                return;
            }
            pauses.refresh(false);
            long nowNanos = System.nanoTime();
            Instant now = clock.instant();
            if (nowNanos - lastPrune >= pruneIntervalNanos) {
                lastPrune = nowNanos;
                prune(now);
            }
            if (settings.deadLetterRetention() != null && nowNanos - lastPurge >= PURGE_EVERY.toNanos()) {
                lastPurge = nowNanos;
                if (journal.purgeDeadLetters(now.minus(settings.deadLetterRetention())) > 0) {
                    recountAll();
                }
            }
            if (nowNanos - lastRecount >= RECOUNT_EVERY.toNanos()) {
                lastRecount = nowNanos;
                recount = true;
            }
            if (nowNanos - lastOrders >= ORDERS_EVERY.toNanos()) {
                lastOrders = nowNanos;
                handOverOrders(nowNanos);
            }
        } finally {
            running.unlock();
        }
        if (recount) {
            // Outside the lock: counting every subscription's dead letters must not hold up pruning or orders.
            recountAll();
        }
    }

    private void prune(Instant now) {
        Instant appendedBefore = now.minus(settings.retention());
        for (int lane = 0; lane < settings.laneSpace(); lane++) {
            long passed = journal.head(lane);
            for (LaneWorker w : subscriptions.workers(lane)) {
                passed = Math.min(passed, w.prunePoint());
            }
            for (IntToLongFunction hold : pruneHolds) {
                if (lane < settings.lanes()) {
                    passed = Math.min(passed, hold.applyAsLong(lane));
                }
            }
            journal.prune(lane, passed, appendedBefore, now);
        }
    }

    /** Hands stored reprocess requests to the workers of the lanes this instance holds. */
    private void handOverOrders(long nowNanos) {
        List<DeadLetterStore.ReprocessOrder> orders = journal.reprocessOrders(ORDERS_PER_READ);
        if (orders.isEmpty()) {
            handedOver.clear();
            return;
        }
        Map<String, Long> still = new HashMap<>();
        for (DeadLetterStore.ReprocessOrder o : orders) {
            Long at = handedOver.get(o.deadLetterId());
            if (at != null && nowNanos - at < ORDER_RESEND.toNanos()) {
                still.put(o.deadLetterId(), at);
                continue;
            }
            SubscriptionRuntime s = subscriptions.get(o.subscription());
            if (s == null || o.lane() >= settings.laneSpace() || !holds.test(o.lane())) {
                continue; // another instance runs it, or it is not registered here
            }
            s.worker(o.lane()).reprocess(o.deadLetterId());
            still.put(o.deadLetterId(), nowNanos);
        }
        handedOver.clear();
        handedOver.putAll(still);
    }

    /** Counts a subscription's dead letters again and alerts once when they reach the threshold. */
    public void recount(SubscriptionRuntime s) {
        if (s.subscription().ephemeral()) {
            return;
        }
        boolean alert;
        long count;
        // Counted and stored under the subscription's recount lock: a slow count never stores an older number over
        // a newer one, and the alert is raised once. A ReentrantLock, not a monitor: runners are virtual threads,
        // and the count is a query.
        s.recountLock().lock();
        try {
            count = journal.countDeadLetters(s.name());
            alert = s.deadLetters(count, settings.alertThreshold());
        } finally {
            s.recountLock().unlock();
        }
        if (alert && settings.alertCallback() != null) {
            try {
                settings.alertCallback().accept(new DeadLetterAlert(s.name(), count, settings.alertThreshold()));
            } catch (RuntimeException e) {
                log.warn("dead letter alert callback failed for subscription '{}'", s.name(), e);
            }
        }
    }

    /** Counts every subscription's dead letters again. */
    public void recountAll() {
        for (SubscriptionRuntime s : subscriptions.all()) {
            recount(s);
        }
    }
}
