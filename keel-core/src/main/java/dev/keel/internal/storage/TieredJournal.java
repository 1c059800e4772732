package dev.keel.internal.storage;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.TypePattern;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * A durable journal with an in-memory tier beside it for the event types declared at-most-once: their
 * events never touch the durable store, and are lost in a crash. The memory tier has lanes of its own,
 * numbered after the durable ones ({@code lanes .. 2 × lanes - 1}), so the runtime delivers both tiers with
 * the same workers and the same rules. Dead letters of both tiers are listed together (the memory tier's
 * are lost on restart); pauses, leases and stored subscriptions are the durable journal's.
 *
 * <p>The runtime asks it where an event goes ({@link #laneOf}) and appends with that lane, so that
 * backpressure counts the right lane. A batch is stored as one unit: when it mixes at-most-once types with
 * durable ones, the whole batch is journaled, which keeps it all-or-nothing and keeps its same-key order.
 * Events of the two tiers emitted separately are ordered within their tier only.
 */
public final class TieredJournal implements Journal {
    private final Journal durable;
    private final Journal memory;
    private final List<TypePattern> atMostOnce;
    private int lanes;
    private long[] lastDurablePrune;

    public TieredJournal(Journal durable, Journal memory, List<TypePattern> atMostOnce) {
        this.durable = durable;
        this.memory = memory;
        this.atMostOnce = List.copyOf(atMostOnce);
    }

    /** How many lanes the runtime delivers: the durable ones and the memory tier's. */
    public static int laneSpace(int lanes) {
        return 2 * lanes;
    }

    /** Whether the lane is one of the memory tier's. */
    public boolean inMemory(int lane) {
        return lane >= lanes;
    }

    /** The lane an event of the type goes to: its durable lane, or the memory tier's of the same number. */
    public int laneOf(String type, int durableLane) {
        return isAtMostOnce(type) ? memoryLane(durableLane) : durableLane;
    }

    /** The memory tier's lane of the same number as a durable lane. */
    public int memoryLane(int durableLane) {
        return durableLane + lanes;
    }

    /** Whether a batch may go to the memory tier: every event of it is of an at-most-once type. */
    public boolean allAtMostOnce(List<? extends dev.keel.Event<?>> events) {
        for (dev.keel.Event<?> e : events) {
            if (!isAtMostOnce(e.type())) {
                return false;
            }
        }
        return !events.isEmpty();
    }

    private boolean isAtMostOnce(String type) {
        for (TypePattern p : atMostOnce) {
            if (p.matches(type)) {
                return true;
            }
        }
        return false;
    }

    private Journal of(int lane) {
        return lane >= lanes ? memory : durable;
    }

    private int local(int lane) {
        return lane >= lanes ? lane - lanes : lane;
    }

    // ---- the log ----

    @Override
    public void open(int laneCount) {
        durable.open(laneCount);
        memory.open(laneCount);
        this.lanes = laneCount;
        this.lastDurablePrune = new long[laneCount];
    }

    /**
     * Appends a batch to the tier its lanes name ({@link #laneOf}): all of it durable, or all of it in memory.
     *
     * @throws IllegalArgumentException for a batch whose lanes are in both tiers
     */
    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        boolean inMemory = !batch.isEmpty() && batch.getFirst().lane() >= lanes;
        List<Append> local = new ArrayList<>(batch.size());
        for (Append a : batch) {
            if ((a.lane() >= lanes) != inMemory) {
                throw new IllegalArgumentException("a batch is stored in one tier; this one has lanes in both");
            }
            local.add(inMemory ? localAppend(a) : a);
        }
        if (!inMemory) {
            return durable.append(batch);
        }
        return memory.append(local).thenApply(results -> {
            List<AppendResult> out = new ArrayList<>(results.size());
            for (AppendResult r : results) {
                out.add(new AppendResult(r.lane() + lanes, r.sequence(), r.eventId(), r.duplicate()));
            }
            return out;
        });
    }

    @Override
    public CompletableFuture<AppendResult> append(Append one) {
        if (one.lane() < lanes) {
            return durable.append(one);
        }
        return memory.append(localAppend(one))
                .thenApply(r -> new AppendResult(r.lane() + lanes, r.sequence(), r.eventId(), r.duplicate()));
    }

    @Override
    public AppendResult appendNow(Append one) {
        if (one.lane() < lanes) {
            return durable.appendNow(one);
        }
        AppendResult r = memory.appendNow(localAppend(one));
        return r == null ? null : new AppendResult(r.lane() + lanes, r.sequence(), r.eventId(), r.duplicate());
    }

    private Append localAppend(Append a) {
        return new Append(a.lane() - lanes, a.event(), a.dedupKey(), a.dedupUntil());
    }

    @Override
    public boolean tellsOfAppendsElsewhere() {
        return durable.tellsOfAppendsElsewhere();
    }

    @Override
    public void appendedElsewhere(int lane, long sequence) {
        if (lane < lanes) {
            durable.appendedElsewhere(lane, sequence);
        }
    }

    /** Only the durable tier is shared with other instances. */
    @Override
    public AutoCloseable watchAppendsElsewhere(java.util.function.IntConsumer grew) {
        return durable.watchAppendsElsewhere(grew);
    }

    @Override
    public long head(int lane) {
        return of(lane).head(local(lane));
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        if (lane < lanes) {
            return durable.read(lane, after, max);
        }
        List<LogRecord> records = memory.read(lane - lanes, after, max);
        List<LogRecord> out = new ArrayList<>(records.size());
        for (LogRecord r : records) {
            out.add(new LogRecord(lane, r.sequence(), r.event()));
        }
        return out;
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        return of(lane).cursor(subscription, local(lane));
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        return of(lane).openCursor(subscription, local(lane), startAt);
    }

    @Override
    public void commit(Commit c) {
        if (c.lane() < lanes) {
            durable.commit(c);
            return;
        }
        // The memory tier is this process's own: no lease covers it.
        memory.commit(new Commit(
                c.subscription(),
                c.lane() - lanes,
                c.cursor(),
                c.upserts(),
                c.removals(),
                c.deadLetters(),
                c.removedDeadLetters(),
                c.tally(),
                Commit.NO_FENCE));
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        return of(lane).pending(subscription, local(lane));
    }

    @Override
    public Tally tally(String subscription) {
        return durable.tally(subscription).plus(memory.tally(subscription));
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        if (lane >= lanes) {
            memory.prune(lane - lanes, passed, appendedBefore, now);
            return;
        }
        // Pruned as often as the memory tier wants, which is far more often than a database should be.
        long t = System.nanoTime();
        if (t - lastDurablePrune[lane] < durable.pruneInterval().toNanos() && lastDurablePrune[lane] != 0) {
            return;
        }
        lastDurablePrune[lane] = t;
        durable.prune(lane, passed, appendedBefore, now);
    }

    @Override
    public Duration pruneInterval() {
        Duration m = memory.pruneInterval();
        Duration d = durable.pruneInterval();
        return m.compareTo(d) < 0 ? m : d;
    }

    @Override
    public Duration commitInterval() {
        return durable.commitInterval();
    }

    // ---- dead letters ----

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        List<DeadLetter> a = durable.deadLetters(query);
        List<DeadLetter> b = memory.deadLetters(query);
        if (b.isEmpty()) {
            return a;
        }
        if (a.isEmpty()) {
            return b;
        }
        // Both are in id order (the time of dead-lettering): merge, then keep the page.
        Comparator<DeadLetter> order = Comparator.comparing(DeadLetter::id);
        if (query.newestFirst()) {
            order = order.reversed();
        }
        List<DeadLetter> all = new ArrayList<>(a.size() + b.size());
        all.addAll(a);
        all.addAll(b);
        all.sort(order);
        return all.size() > query.limit() ? List.copyOf(all.subList(0, query.limit())) : all;
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        Optional<DeadLetter> d = durable.deadLetter(id);
        return d.isPresent() ? d : memory.deadLetter(id);
    }

    @Override
    public boolean updateDeadLetter(DeadLetter deadLetter) {
        return durable.updateDeadLetter(deadLetter) || memory.updateDeadLetter(deadLetter);
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        return durable.deleteDeadLetter(id) || memory.deleteDeadLetter(id);
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        return durable.purgeDeadLetters(before) + memory.purgeDeadLetters(before);
    }

    @Override
    public long countDeadLetters(String subscription) {
        return durable.countDeadLetters(subscription) + memory.countDeadLetters(subscription);
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        return durable.requestReprocess(deadLetterId, at) || memory.requestReprocess(deadLetterId, at);
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        List<ReprocessOrder> out = new ArrayList<>(durable.reprocessOrders(max));
        if (out.size() < max) {
            out.addAll(memory.reprocessOrders(max - out.size()));
        }
        return out;
    }

    // ---- coordination: the durable journal's ----

    @Override
    public void pause(PauseKey key, Instant until) {
        durable.pause(key, until);
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        return durable.pauses(now);
    }

    @Override
    public Optional<LaneLeases> leases() {
        return durable.leases();
    }

    @Override
    public long saveSubscription(String key, String document) {
        return durable.saveSubscription(key, document);
    }

    @Override
    public long deleteSubscription(String key) {
        return durable.deleteSubscription(key);
    }

    @Override
    public List<StoredSubscription> subscriptions() {
        return durable.subscriptions();
    }

    @Override
    public long subscriptionsRevision() {
        return durable.subscriptionsRevision();
    }

    @Override
    public void close() {
        try {
            memory.close();
        } finally {
            durable.close();
        }
    }
}
