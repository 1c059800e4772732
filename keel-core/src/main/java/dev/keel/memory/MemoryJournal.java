package dev.keel.memory;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.spi.Append;
import dev.keel.spi.AuditTrail;
import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The in-memory engine: per-lane ring buffers, nothing survives the JVM. The fastest engine, for tests and
 * at-most-once use. Its appends complete before {@link #append} returns. One runtime uses it: it has no
 * leases, and what it coordinates (pauses, stored subscriptions, reprocess requests) stays in this process.
 */
public final class MemoryJournal implements Journal {
    private LaneLog[] lanes;
    private final ConcurrentHashMap<String, AtomicLongArray> cursors = new ConcurrentHashMap<>();
    private final Map<String, TreeMap<Long, Pending>> pending = new HashMap<>();
    private final ConcurrentSkipListMap<String, DeadLetter> deadLetters = new ConcurrentSkipListMap<>();
    private final ConcurrentHashMap<String, java.util.concurrent.atomic.LongAdder> deadLetterCounts =
            new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Dedup> dedup = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, TallyCell[]> tallies = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, ReprocessOrder> reprocessOrders = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<PauseKey, Instant> pauses = new ConcurrentHashMap<>();
    private final AuditTrail audit = new MemoryAuditTrail();
    private final java.util.LinkedHashMap<String, StoredSubscription> storedSubscriptions =
            new java.util.LinkedHashMap<>();
    private long subscriptionRevision;
    private final ReentrantLock state = new ReentrantLock();
    private final Clock clock;
    private volatile long lastDedupSweep;
    private volatile boolean closed;

    /** A memory journal whose dedup windows run on the system clock. */
    public MemoryJournal() {
        this(Clock.systemUTC());
    }

    /** A memory journal whose dedup windows run on the clock (the runtime's, so test clocks apply). */
    public MemoryJournal(Clock clock) {
        this.clock = java.util.Objects.requireNonNull(clock, "clock");
    }

    private record Dedup(String eventId, int lane, long sequence, Instant until) {}

    @Override
    public void open(int laneCount) {
        if (laneCount < 1) {
            throw new IllegalArgumentException("lanes must be at least 1 but was " + laneCount);
        }
        if (lanes != null) {
            if (lanes.length != laneCount) {
                throw new JournalException("memory journal is open with " + lanes.length + " lanes, not " + laneCount);
            }
            return;
        }
        LaneLog[] made = new LaneLog[laneCount];
        for (int i = 0; i < laneCount; i++) {
            made[i] = new LaneLog(i, clock);
        }
        lanes = made;
    }

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        ensureOpen();
        List<AppendResult> results = new ArrayList<>(batch.size());
        for (Append a : batch) {
            results.add(appendOne(a));
        }
        return CompletableFuture.completedFuture(results);
    }

    @Override
    public CompletableFuture<AppendResult> append(Append one) {
        return CompletableFuture.completedFuture(appendOne(one));
    }

    @Override
    public AppendResult appendNow(Append one) {
        return appendOne(one);
    }

    private AppendResult appendOne(Append a) {
        ensureOpen();
        LaneLog lane = lane(a.lane());
        if (a.dedupKey() == null) {
            long seq = lane.add(a.event());
            return new AppendResult(a.lane(), seq, a.event().id(), false);
        }
        synchronized (dedup) {
            Dedup seen = dedup.get(a.dedupKey());
            if (seen != null && seen.until().isAfter(clock.instant())) {
                return new AppendResult(seen.lane(), seen.sequence(), seen.eventId(), true);
            }
            long seq = lane.add(a.event());
            dedup.put(a.dedupKey(), new Dedup(a.event().id(), a.lane(), seq, a.dedupUntil()));
            return new AppendResult(a.lane(), seq, a.event().id(), false);
        }
    }

    @Override
    public long head(int lane) {
        return lane(lane).head;
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        ensureOpen();
        return lane(lane).read(after, max);
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        var c = cursors.get(subscription);
        long at = c == null ? -1 : c.get(lane);
        return at < 0 ? OptionalLong.empty() : OptionalLong.of(at);
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        ensureOpen();
        lane(lane);
        var c = cursorsOf(subscription);
        c.compareAndSet(lane, -1, startAt);
        return c.get(lane);
    }

    @Override
    public void commit(Commit commit) {
        ensureOpen();
        if (commit.isEmpty()) {
            return;
        }
        if (!commit.tally().isZero()) {
            talliesOf(commit.subscription())[commit.lane()].add(commit.tally());
        }
        boolean cursorOnly = commit.upserts().isEmpty()
                && commit.removals().isEmpty()
                && commit.deadLetters().isEmpty()
                && commit.removedDeadLetters().isEmpty();
        if (cursorOnly) {
            // The common case: nothing but progress. One (subscription, lane) has one writer, so no lock, and a
            // release store publishes it (readers read it with a volatile load).
            if (commit.cursor() != Commit.UNCHANGED) {
                cursorsOf(commit.subscription()).setRelease(commit.lane(), commit.cursor());
            }
            return;
        }
        state.lock();
        try {
            if (commit.cursor() != Commit.UNCHANGED) {
                cursorsOf(commit.subscription()).set(commit.lane(), commit.cursor());
            }
            if (!commit.upserts().isEmpty() || !commit.removals().isEmpty()) {
                TreeMap<Long, Pending> p =
                        pending.computeIfAbsent(key(commit.subscription(), commit.lane()), k -> new TreeMap<>());
                for (Long seq : commit.removals()) {
                    p.remove(seq);
                }
                for (Pending u : commit.upserts()) {
                    p.put(u.sequence(), u);
                }
            }
            for (String id : commit.removedDeadLetters()) {
                counted(deadLetters.remove(id), -1);
                reprocessOrders.remove(id);
            }
            for (DeadLetter d : commit.deadLetters()) {
                if (deadLetters.put(d.id(), d) == null) {
                    counted(d, 1);
                }
            }
        } finally {
            state.unlock();
        }
    }

    @Override
    public Tally tally(String subscription) {
        TallyCell[] cells = tallies.get(subscription);
        if (cells == null) {
            return Tally.ZERO;
        }
        Tally sum = Tally.ZERO;
        for (TallyCell c : cells) {
            sum = sum.plus(c.get());
        }
        return sum;
    }

    private TallyCell[] talliesOf(String subscription) {
        TallyCell[] cells = tallies.get(subscription);
        if (cells != null) {
            return cells;
        }
        return tallies.computeIfAbsent(subscription, k -> {
            TallyCell[] made = new TallyCell[lanes.length];
            for (int i = 0; i < made.length; i++) {
                made[i] = new TallyCell();
            }
            return made;
        });
    }

    /** A (subscription, lane)'s counts: added by whoever commits for the lane, summed by readers anywhere. */
    private static final class TallyCell {
        private final AtomicLongArray counts = new AtomicLongArray(4);

        void add(Tally more) {
            add(0, more.delivered());
            add(1, more.failedAttempts());
            add(2, more.retriesScheduled());
            add(3, more.deadLettered());
        }

        private void add(int i, long n) {
            if (n != 0) {
                counts.getAndAdd(i, n);
            }
        }

        Tally get() {
            return new Tally(counts.get(0), counts.get(1), counts.get(2), counts.get(3));
        }
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        state.lock();
        try {
            TreeMap<Long, Pending> p = pending.get(key(subscription, lane));
            return p == null ? List.of() : List.copyOf(p.values());
        } finally {
            state.unlock();
        }
    }

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        return query.select(deadLetters);
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        return Optional.ofNullable(deadLetters.get(id));
    }

    @Override
    public boolean updateDeadLetter(DeadLetter deadLetter) {
        return deadLetters.replace(deadLetter.id(), deadLetter) != null;
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        DeadLetter removed = deadLetters.remove(id);
        counted(removed, -1);
        reprocessOrders.remove(id);
        return removed != null;
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        DeadLetter d = deadLetters.get(deadLetterId);
        if (d == null) {
            return false;
        }
        reprocessOrders.putIfAbsent(deadLetterId, new ReprocessOrder(deadLetterId, d.subscription(), d.lane(), at));
        return true;
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        List<ReprocessOrder> out = new ArrayList<>();
        for (ReprocessOrder o : reprocessOrders.values()) {
            if (out.size() >= max) {
                break;
            }
            if (deadLetters.containsKey(o.deadLetterId())) {
                out.add(o);
            } else {
                reprocessOrders.remove(o.deadLetterId(), o);
            }
        }
        out.sort(java.util.Comparator.comparing(ReprocessOrder::requestedAt));
        return out;
    }

    private void counted(DeadLetter d, int delta) {
        if (d != null) {
            deadLetterCounts
                    .computeIfAbsent(d.subscription(), k -> new java.util.concurrent.atomic.LongAdder())
                    .add(delta);
        }
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        int removed = 0;
        for (Iterator<DeadLetter> it = deadLetters.values().iterator(); it.hasNext(); ) {
            DeadLetter d = it.next();
            if (d.deadLetteredAt().isBefore(before) && deadLetters.remove(d.id(), d)) {
                counted(d, -1);
                reprocessOrders.remove(d.id());
                removed++;
            }
        }
        return removed;
    }

    @Override
    public long countDeadLetters(String subscription) {
        if (subscription == null) {
            return deadLetters.size();
        }
        var count = deadLetterCounts.get(subscription);
        return count == null ? 0 : count.sum();
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        lane(lane).prune(passed, appendedBefore.toEpochMilli());
        long nowMillis = now.toEpochMilli();
        if (nowMillis - lastDedupSweep >= 1000) {
            lastDedupSweep = nowMillis;
            dedup.values().removeIf(d -> d.until().isBefore(now));
        }
    }

    /** Every 10 ms: consumed events leave the heap before they reach the old generation. */
    @Override
    public java.time.Duration pruneInterval() {
        return java.time.Duration.ofMillis(10);
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public boolean durable() {
        return false;
    }

    @Override
    public void pause(PauseKey key, Instant until) {
        if (until == null) {
            pauses.remove(key);
        } else {
            pauses.put(key, until);
        }
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        Map<PauseKey, Instant> live = new HashMap<>();
        pauses.forEach((k, v) -> {
            if (v.isAfter(now)) {
                live.put(k, v);
            }
        });
        return live;
    }

    @Override
    public Optional<AuditTrail> auditTrail() {
        return Optional.of(audit);
    }

    @Override
    public synchronized long saveSubscription(String key, String document) {
        long revision = ++subscriptionRevision;
        storedSubscriptions.put(key, new StoredSubscription(key, document, revision));
        return revision;
    }

    @Override
    public synchronized long deleteSubscription(String key) {
        if (storedSubscriptions.remove(key) == null) {
            return 0;
        }
        return ++subscriptionRevision;
    }

    @Override
    public synchronized long subscriptionsRevision() {
        return subscriptionRevision;
    }

    @Override
    public synchronized List<StoredSubscription> subscriptions() {
        return List.copyOf(storedSubscriptions.values());
    }

    /** How many records the lane holds now (after pruning). */
    public int size(int lane) {
        return lane(lane).size();
    }

    private AtomicLongArray cursorsOf(String subscription) {
        var c = cursors.get(subscription);
        if (c != null) {
            return c;
        }
        return cursors.computeIfAbsent(subscription, k -> {
            var made = new AtomicLongArray(lanes.length);
            for (int i = 0; i < made.length(); i++) {
                made.set(i, -1);
            }
            return made;
        });
    }

    private static String key(String subscription, int lane) {
        return subscription + '\u0000' + lane;
    }

    private LaneLog lane(int lane) {
        LaneLog[] l = lanes;
        if (l == null) {
            throw new JournalException("memory journal is not open; call open(lanes) first");
        }
        if (lane < 0 || lane >= l.length) {
            throw new JournalException("lane " + lane + " does not exist; the journal has " + l.length + " lanes");
        }
        return l[lane];
    }

    private void ensureOpen() {
        if (closed) {
            throw new JournalException("memory journal is closed");
        }
    }

    /**
     * One lane: a growable ring indexed by sequence. Appends and pruning take the lane's lock; reads take
     * none: a reader reads {@code head} first (volatile), then the ring, which a writer publishes before
     * the head that needs it, and only ever reads sequences no pruning can reach (pruning stops at what
     * every subscription has passed).
     */
    private static final class LaneLog {
        private final int lane;
        private final Clock clock;
        private volatile LogRecord[] ring = new LogRecord[1024];
        private long[] appendedAt = new long[1024];
        private volatile long first = 1;
        volatile long head;

        LaneLog(int lane, Clock clock) {
            this.lane = lane;
            this.clock = clock;
        }

        synchronized long add(dev.keel.Event<?> event) {
            long seq = head + 1;
            LogRecord[] r = ring;
            if (seq - first >= r.length) {
                r = grow(r);
            }
            int at = (int) (seq & (r.length - 1));
            r[at] = new LogRecord(lane, seq, event);
            appendedAt[at] = clock.millis();
            head = seq;
            return seq;
        }

        /**
         * Records after {@code after}. A reader behind what was pruned (a subscription re-added after its
         * events were dropped) starts at the oldest record still kept.
         */
        List<LogRecord> read(long after, int max) {
            while (true) {
                long last = head;
                LogRecord[] r = ring;
                long from = Math.max(after + 1, first);
                if (from > last) {
                    return List.of();
                }
                int n = (int) Math.min(max, last - from + 1);
                List<LogRecord> out = new ArrayList<>(n);
                int mask = r.length - 1;
                boolean torn = false;
                for (long seq = from; seq < from + n; seq++) {
                    LogRecord rec = r[(int) (seq & mask)];
                    if (rec == null || rec.sequence() != seq) {
                        torn = true; // pruned under us: start again from the new oldest record
                        break;
                    }
                    out.add(rec);
                }
                if (!torn) {
                    return out;
                }
            }
        }

        synchronized void prune(long passed, long appendedBeforeMillis) {
            LogRecord[] r = ring;
            int mask = r.length - 1;
            long last = Math.min(passed, head);
            while (first <= last && appendedAt[(int) (first & mask)] < appendedBeforeMillis) {
                r[(int) (first & mask)] = null;
                first++;
            }
        }

        synchronized int size() {
            return (int) (head - first + 1);
        }

        private LogRecord[] grow(LogRecord[] old) {
            int cap = old.length * 2;
            LogRecord[] r = new LogRecord[cap];
            long[] t = new long[cap];
            int oldMask = old.length - 1;
            for (long seq = first; seq <= head; seq++) {
                r[(int) (seq & (cap - 1))] = old[(int) (seq & oldMask)];
                t[(int) (seq & (cap - 1))] = appendedAt[(int) (seq & oldMask)];
            }
            appendedAt = t;
            ring = r;
            return r;
        }
    }
}
