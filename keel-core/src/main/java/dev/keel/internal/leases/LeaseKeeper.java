package dev.keel.internal.leases;

import dev.keel.internal.lanes.LaneWorker;
import dev.keel.spi.Commit;
import dev.keel.spi.LaneLeases;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds this instance's lane leases on a journal several instances share: a heartbeat renews them, takes
 * the lanes granted, drops the lanes lost, and gives back what is over this instance's fair share.
 *
 * <p>Threads: one platform thread ({@code keel-leases}) runs the heartbeat and is the only writer of the
 * held lanes; lane runners read them (through {@link #holds} and {@link #fence}). The heartbeat never
 * waits for a handler: a lane to give back is first marked releasing (no new passes start on it, and it is
 * still renewed so the last commits stay valid), and is released by a later heartbeat once no pass runs
 * on it, or after a grace period.
 */
public final class LeaseKeeper {
    private static final Logger log = LoggerFactory.getLogger(LeaseKeeper.class);

    private final LaneLeases leases;
    private final String instanceId;
    private final Duration leaseDuration;
    /** The lanes leases cover; lanes from here on (an in-memory tier) are always this instance's. */
    private final int leasedLanes;

    private final IntFunction<List<LaneWorker>> workers;
    private final Counter gained;
    private final Counter lost;
    private final ConcurrentHashMap<Integer, Long> owned = new ConcurrentHashMap<>();
    /** Lanes being given back, with the time (nanoTime) after which they go even if a pass still runs. */
    private final ConcurrentHashMap<Integer, Long> releasing = new ConcurrentHashMap<>();

    private volatile long validUntil;
    private volatile boolean running;
    private Thread thread;

    /**
     * @param workers the workers of a lane, to tell them the lane was granted or lost
     * @param gained counts lanes taken over (a grant, or a new token)
     * @param lost counts lanes lost or given back
     */
    public LeaseKeeper(
            LaneLeases leases,
            String instanceId,
            Duration leaseDuration,
            int leasedLanes,
            IntFunction<List<LaneWorker>> workers,
            Counter gained,
            Counter lost) {
        this.leases = leases;
        this.instanceId = instanceId;
        this.leaseDuration = leaseDuration;
        this.leasedLanes = leasedLanes;
        this.workers = workers;
        this.gained = gained;
        this.lost = lost;
    }

    /** Takes the first leases now, then starts the heartbeat thread. */
    public void start() {
        running = true;
        heartbeat();
        thread = Thread.ofPlatform().daemon().name("keel-leases").start(this::loop);
    }

    private void loop() {
        long every = Math.max(Duration.ofMillis(20).toNanos(), leaseDuration.toNanos() / 4);
        while (running) {
            LockSupport.parkNanos(every);
            if (!running) {
                return;
            }
            try {
                heartbeat();
            } catch (RuntimeException e) {
                log.warn("could not renew lane leases ({}); delivery stops when they lapse", e.toString());
            }
        }
    }

    /** Renew, take what is granted, drop what is lost, release what is idle, mark what is over the fair share. */
    void heartbeat() {
        long sent = System.nanoTime();
        LaneLeases.Held held = leases.heartbeat(instanceId, leaseDuration);
        // The database set the expiry after this instant; stopping at 3/4 of the lease keeps a margin.
        validUntil = sent + leaseDuration.toNanos() / 4 * 3;
        for (Integer lane : List.copyOf(owned.keySet())) {
            if (!held.lanes().containsKey(lane)) {
                owned.remove(lane);
                releasing.remove(lane);
                lost.increment();
                tell(lane);
            }
        }
        held.lanes().forEach((lane, token) -> {
            Long before = owned.put(lane, token);
            if (before == null || !before.equals(token)) {
                gained.increment();
                tell(lane);
            }
        });
        // Give back what a finished pass no longer needs.
        List<Integer> done = new ArrayList<>();
        long now = System.nanoTime();
        releasing.forEach((lane, graceEnds) -> {
            boolean idle = true;
            for (LaneWorker w : workers.apply(lane)) {
                idle &= w.isIdle();
            }
            if (idle || now - graceEnds >= 0) {
                done.add(lane);
            }
        });
        if (!done.isEmpty()) {
            leases.release(instanceId, done);
            for (Integer lane : done) {
                owned.remove(lane);
                releasing.remove(lane);
                lost.increment();
            }
        }
        int extra = owned.size() - releasing.size() - held.fairShare();
        if (extra > 0) {
            TreeSet<Integer> candidates = new TreeSet<>(owned.keySet());
            candidates.removeAll(releasing.keySet());
            long graceEnds = now + 2 * leaseDuration.toNanos();
            for (Integer lane : candidates.descendingSet()) {
                if (extra-- <= 0) {
                    break;
                }
                // No reload: the token stays this instance's until the release, so what a worker holds stays
                // valid (its last commits go through); holds() says no new pass may start.
                releasing.put(lane, graceEnds);
            }
        }
    }

    private void tell(int lane) {
        for (LaneWorker w : workers.apply(lane)) {
            w.leaseChanged();
        }
    }

    /** Whether this instance may deliver the lane now. */
    public boolean holds(int lane) {
        if (lane >= leasedLanes) {
            return true;
        }
        return owned.containsKey(lane) && !releasing.containsKey(lane) && System.nanoTime() - validUntil < 0;
    }

    /** The fencing token to commit the lane's outcomes with. */
    public long fence(int lane) {
        if (lane >= leasedLanes) {
            return Commit.NO_FENCE;
        }
        Long token = owned.get(lane);
        return token == null ? Long.MIN_VALUE : token;
    }

    /** The lanes this instance delivers now. */
    public Set<Integer> held() {
        Set<Integer> out = new TreeSet<>();
        for (Integer lane : owned.keySet()) {
            if (holds(lane)) {
                out.add(lane);
            }
        }
        return out;
    }

    /** Stops the heartbeat and hands every lane over at once instead of letting the others wait for expiry. */
    public void close() {
        running = false;
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
            try {
                t.join(Duration.ofSeconds(1));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!owned.isEmpty()) {
            try {
                leases.release(instanceId, List.copyOf(owned.keySet()));
            } catch (RuntimeException e) {
                log.warn("could not release lane leases on close; they expire in {}", leaseDuration, e);
            }
            owned.clear();
        }
    }

    /** The thread of the heartbeat, for shutdown reporting. */
    Thread thread() {
        return thread;
    }

    /** For tests of the keeper itself: the lanes held and their tokens. */
    Map<Integer, Long> owned() {
        return Map.copyOf(owned);
    }
}
