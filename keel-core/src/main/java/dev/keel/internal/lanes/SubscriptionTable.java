package dev.keel.internal.lanes;

import dev.keel.SubscriptionException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The registered subscriptions, by name and, for the emit path, their workers by lane. Changes take a lock
 * and publish a fresh array per lane, so readers (emits waking workers, maintenance) never lock.
 */
public final class SubscriptionTable {
    private final ConcurrentHashMap<String, SubscriptionRuntime> byName = new ConcurrentHashMap<>();
    private volatile LaneWorker[][] byLane;
    private final Object changes = new Object();

    public SubscriptionTable(int lanes) {
        this.byLane = new LaneWorker[lanes][0];
    }

    /**
     * Adds a subscription.
     *
     * @throws SubscriptionException when one of that name is registered
     */
    public void add(SubscriptionRuntime s) {
        synchronized (changes) {
            if (byName.containsKey(s.name())) {
                throw new SubscriptionException("a subscription named '" + s.name()
                        + "' exists already; names must be unique (they key the cursors)");
            }
            byName.put(s.name(), s);
            LaneWorker[][] next = new LaneWorker[byLane.length][];
            for (int i = 0; i < next.length; i++) {
                LaneWorker[] old = byLane[i];
                next[i] = Arrays.copyOf(old, old.length + 1);
                next[i][old.length] = s.worker(i);
            }
            byLane = next;
        }
    }

    /**
     * Puts {@code next} in place of {@code old} in one step, so that no reader (pruning, say) ever sees the
     * name without a subscription.
     *
     * @throws SubscriptionException when {@code old} is not registered any more
     */
    public void swap(SubscriptionRuntime old, SubscriptionRuntime next) {
        synchronized (changes) {
            if (byName.get(old.name()) != old || !old.name().equals(next.name())) {
                throw new SubscriptionException(
                        "subscription '" + old.name() + "' changed while it was being replaced; try again");
            }
            byName.put(next.name(), next);
            LaneWorker[][] swapped = new LaneWorker[byLane.length][];
            for (int i = 0; i < swapped.length; i++) {
                LaneWorker[] workers = byLane[i].clone();
                for (int j = 0; j < workers.length; j++) {
                    if (workers[j].subscription() == old) {
                        workers[j] = next.worker(i);
                    }
                }
                swapped[i] = workers;
            }
            byLane = swapped;
        }
    }

    /** Removes a subscription; null when none has the name. */
    public SubscriptionRuntime remove(String name) {
        synchronized (changes) {
            SubscriptionRuntime s = byName.remove(name);
            if (s == null) {
                return null;
            }
            LaneWorker[][] next = new LaneWorker[byLane.length][];
            for (int i = 0; i < next.length; i++) {
                List<LaneWorker> kept = new ArrayList<>();
                for (LaneWorker w : byLane[i]) {
                    if (w.subscription() != s) {
                        kept.add(w);
                    }
                }
                next[i] = kept.toArray(LaneWorker[]::new);
            }
            byLane = next;
            return s;
        }
    }

    public SubscriptionRuntime get(String name) {
        return byName.get(name);
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public Collection<SubscriptionRuntime> all() {
        return byName.values();
    }

    public int size() {
        return byName.size();
    }

    /** The workers of a lane, one per subscription; do not modify the array. */
    public LaneWorker[] workers(int lane) {
        return byLane[lane];
    }

    /** The workers of a lane as a list. */
    public List<LaneWorker> workerList(int lane) {
        return List.of(byLane[lane]);
    }

    /** The events of the lane that some subscription has not passed (by committed cursors). */
    public long backlog(int lane, long head) {
        LaneWorker[] workers = byLane[lane];
        if (workers.length == 0) {
            return 0;
        }
        long min = Long.MAX_VALUE;
        for (LaneWorker w : workers) {
            min = Math.min(min, w.cursor());
        }
        return head - min;
    }
}
