package dev.keel.jdbc;

import dev.keel.Event;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The log: appends group-committed by one writer thread (with, on a single-writer database, the delivery
 * outcomes waiting then), the lane heads, reads (recent appends served from memory), and pruning.
 *
 * <p>Dedup keys are claimed before anything is appended, with an insert that succeeds only for a key that is
 * absent or expired: of two transactions claiming one key at once (two instances on PostgreSQL), the second
 * waits for the first and then finds the key live, so exactly one event is stored. Keys are claimed in sorted
 * order, and lane heads bumped in lane order, so that two groups never wait on each other in a cycle.
 */
final class LogTable implements GroupCommitWriter.Transaction {
    private static final Duration HEADS_REFRESH = Duration.ofMillis(100);

    private static final Duration SWEEP_EVERY = Duration.ofSeconds(1);
    private static final int PRUNE_SLICE = 512;

    private static final Logger log = LoggerFactory.getLogger(LogTable.class);
    private final Database db;
    private final Outcomes outcomes;
    private final AtomicLongArray heads;
    private final RecentAppends recent;
    private final GroupCommitWriter writer;
    /** The writer thread's own connection and statements, kept across its transactions. */
    private Statements writerStatements;

    /** When the last read of the heads started. */
    private volatile long headsReadAt;
    /** Held while the heads are read for a caller of {@link #head}, so that callers at once share one read. */
    private final Object headsLock = new Object();
    /**
     * Per lane, the tick of another instance's last notice of an append there: a hint to read the heads again, until a
     * read starts at a later tick. Ticks order notices and reads; they are not times.
     */
    private final AtomicLongArray hintedAt;

    private final java.util.concurrent.atomic.AtomicLong ticks = new java.util.concurrent.atomic.AtomicLong();
    /** The tick at which the last read of the heads started. */
    private volatile long headsReadTick;

    private volatile long lastSweep;

    LogTable(Database db, Outcomes outcomes, int maxBatch) {
        this.db = db;
        this.outcomes = outcomes;
        this.heads = new AtomicLongArray(db.lanes);
        this.hintedAt = new AtomicLongArray(db.lanes);
        this.recent = new RecentAppends(db.lanes);
        refreshHeads();
        this.writer = new GroupCommitWriter(this, maxBatch);
    }

    // ---- appends ----

    CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        return append(batch, null);
    }

    /**
     * Appends the batch in the transaction of the linked write, which runs first; see {@link LinkedWrite}.
     * Without a linked write ({@code null}) it is a plain append.
     */
    CompletableFuture<List<AppendResult>> append(List<Append> batch, LinkedWrite linked) {
        db.ensureOpen();
        List<byte[]> envelopes = new ArrayList<>(batch.size());
        try {
            for (Append a : batch) {
                db.lane(a.lane());
                envelopes.add(db.codec.write(a.event()));
            }
        } catch (JournalException e) {
            // Encoded here, on the caller's thread, so one event that cannot be written fails only its emit.
            return CompletableFuture.failedFuture(
                    e instanceof RequestFault
                            ? e
                            : new RequestFault(e.getMessage(), e.getCause() == null ? e : e.getCause()));
        }
        return writer.submit(batch, envelopes, linked);
    }

    /**
     * Writes appends and delivery outcomes in one transaction; called by the writer thread only. Outcomes come
     * after the appends: a transaction never depends on what it appends itself.
     */
    @Override
    public List<GroupCommitWriter.Written> write(List<GroupCommitWriter.Batch> batches, List<Commit> commits)
            throws SQLException {
        db.lockWrites();
        try {
            if (writerStatements == null) {
                writerStatements = new Statements(db.pool.getConnection());
            }
            Statements st = writerStatements;
            Connection c = st.connection();
            List<AppendResult> results;
            List<Append> appends = new ArrayList<>();
            List<byte[]> envelopes = new ArrayList<>();
            RuntimeException[] refused = new RuntimeException[batches.size()];
            try {
                c.setAutoCommit(false);
                // Linked writes first, kind by kind in the kinds' fixed ranks and by key within a kind (a stable
                // sort: a later batch of the same key sees what an earlier one wrote), so that every group locks
                // what it shares with another in one order; see LinkedWrite.
                Map<LinkedWrite.Kind, List<Integer>> byKind = linkedInOrder(batches);
                for (Map.Entry<LinkedWrite.Kind, List<Integer>> kind : byKind.entrySet()) {
                    List<LinkedWrite> writes = new ArrayList<>(kind.getValue().size());
                    for (int b : kind.getValue()) {
                        writes.add(batches.get(b).linked());
                    }
                    RuntimeException[] answers = kind.getKey().apply(c, writes);
                    for (int i = 0; i < answers.length; i++) {
                        refused[kind.getValue().get(i)] = answers[i];
                    }
                }
                for (int b = 0; b < batches.size(); b++) {
                    if (refused[b] == null) {
                        appends.addAll(batches.get(b).appends());
                        envelopes.addAll(batches.get(b).envelopes());
                    }
                }
                results = appends.isEmpty() ? List.of() : write(st, appends, envelopes);
                for (Commit commit : commits) {
                    outcomes.apply(st, commit);
                }
                c.commit();
            } catch (Throwable e) {
                // Errors too: a transaction left open would be committed with the next group.
                Database.rollback(c, e);
                // The next group starts on a fresh connection: this one may be what failed.
                closeWriterConnection(true);
                throw e;
            }
            // Committed: from here on nothing may report the group as failed.
            try {
                // Between groups the connection holds no transaction (SQLite's driver begins the next one at
                // commit, which in immediate mode would keep the write lock).
                c.setAutoCommit(true);
            } catch (SQLException e) {
                closeWriterConnection(true);
            }
            // Each envelope is kept before its head moves (a lane's sequences rise through the list), so a lane
            // worker that sees a head finds every envelope up to it here.
            for (int i = 0; i < results.size(); i++) {
                AppendResult r = results.get(i);
                if (!r.duplicate()) {
                    recent.add(r.lane(), r.sequence(), envelopes.get(i));
                    heads.accumulateAndGet(r.lane(), r.sequence(), Math::max);
                }
            }
            List<GroupCommitWriter.Written> written = new ArrayList<>(batches.size());
            int at = 0;
            for (int b = 0; b < batches.size(); b++) {
                if (refused[b] != null) {
                    written.add(new GroupCommitWriter.Written(null, refused[b]));
                } else {
                    int n = batches.get(b).appends().size();
                    written.add(new GroupCommitWriter.Written(results.subList(at, at + n), null));
                    at += n;
                }
            }
            return written;
        } finally {
            db.unlockWrites();
        }
    }

    private List<AppendResult> write(Statements st, List<Append> appends, List<byte[]> envelopes) throws SQLException {
        long now = db.clock.millis();
        AppendResult[] results = new AppendResult[appends.size()];
        // Each append's dedup key as the database stores it, and the first append of each key in this batch
        // (the later ones repeat it).
        String[] keys = new String[appends.size()];
        Map<String, Integer> firstOfKey = new HashMap<>();
        TreeMap<String, Integer> toClaim = new TreeMap<>();
        for (int i = 0; i < appends.size(); i++) {
            String key = stored(appends.get(i).dedupKey());
            keys[i] = key;
            if (key != null && firstOfKey.putIfAbsent(key, i) == null) {
                toClaim.put(key, i);
            }
        }
        if (!toClaim.isEmpty()) {
            Set<String> claimed = claim(st, appends, toClaim, now);
            PreparedStatement find = null;
            for (Map.Entry<String, Integer> k : toClaim.entrySet()) {
                if (claimed.contains(k.getKey())) {
                    continue;
                }
                if (find == null) {
                    find = st.prepare("SELECT event_id, lane, seq FROM keel_dedup WHERE dedup_key = ?");
                }
                find.setString(1, k.getKey());
                try (ResultSet r = find.executeQuery()) {
                    if (!r.next()) {
                        throw new SQLException("dedup key '" + k.getKey() + "' is neither free nor stored", "40001");
                    }
                    if (r.getLong(3) == 0) {
                        // Claimed by this very transaction (a stored key has its event's sequence), though its
                        // spelling did not come back as sent: it is this append's.
                        continue;
                    }
                    results[k.getValue()] = new AppendResult(r.getInt(2), r.getLong(3), r.getString(1), true);
                }
            }
        }
        int[] perLane = new int[db.lanes];
        for (int i = 0; i < appends.size(); i++) {
            Append a = appends.get(i);
            boolean repeat = keys[i] != null && firstOfKey.get(keys[i]) != i;
            if (results[i] == null && !repeat) {
                perLane[a.lane()]++;
            }
        }
        long[] next = new long[db.lanes];
        PreparedStatement bump = st.prepare("UPDATE keel_lanes SET head = head + ? WHERE lane = ? RETURNING head");
        for (int lane = 0; lane < db.lanes; lane++) {
            if (perLane[lane] == 0) {
                continue;
            }
            bump.setInt(1, perLane[lane]);
            bump.setInt(2, lane);
            try (ResultSet r = bump.executeQuery()) {
                r.next();
                next[lane] = r.getLong(1) - perLane[lane] + 1;
                if (r.getLong(1) > Database.MAX_SEQ) {
                    throw new JournalException("lane " + lane + " of " + db.dialect.name() + " has reached its last"
                            + " sequence number (2^53 - 1); start a new journal");
                }
            }
        }
        PreparedStatement insert =
                st.prepare("INSERT INTO keel_log (position, lane, seq, event_id, type, appended_at, envelope)"
                        + " VALUES (?, ?, ?, ?, ?, ?, ?)");
        // Claims are made before sequences are known: each claimed key gets its event's sequence now.
        PreparedStatement sequenced = st.prepare("UPDATE keel_dedup SET seq = ? WHERE dedup_key = ?");
        boolean anySequenced = false;
        for (int i = 0; i < appends.size(); i++) {
            Append a = appends.get(i);
            if (results[i] != null || (keys[i] != null && firstOfKey.get(keys[i]) != i)) {
                continue;
            }
            long seq = next[a.lane()]++;
            insert.setLong(1, Database.position(a.lane(), seq));
            insert.setInt(2, a.lane());
            insert.setLong(3, seq);
            insert.setString(4, a.event().id());
            insert.setString(5, a.event().type());
            insert.setLong(6, now);
            insert.setBytes(7, envelopes.get(i));
            insert.addBatch();
            results[i] = new AppendResult(a.lane(), seq, a.event().id(), false);
            if (keys[i] != null) {
                sequenced.setLong(1, seq);
                sequenced.setString(2, keys[i]);
                sequenced.addBatch();
                anySequenced = true;
            }
        }
        insert.executeBatch();
        if (anySequenced) {
            sequenced.executeBatch();
        }
        // Repeats of a key within the batch report what its first append came to.
        for (int i = 0; i < results.length; i++) {
            if (results[i] == null) {
                AppendResult first = results[firstOfKey.get(keys[i])];
                results[i] = new AppendResult(first.lane(), first.sequence(), first.eventId(), true);
            }
        }
        return List.of(results);
    }

    /**
     * Rows of one statement that claims dedup keys, largest first: a few statements for many keys, and three
     * texts to prepare.
     */
    private static final int[] ROWS = {64, 8, 1};

    private static final String[] CLAIM_SQL = new String[ROWS.length];

    static {
        for (int i = 0; i < ROWS.length; i++) {
            CLAIM_SQL[i] = "INSERT INTO keel_dedup (dedup_key, event_id, lane, seq, until_at) VALUES "
                    + rows("(?, ?, ?, 0, ?)", ROWS[i])
                    + " ON CONFLICT (dedup_key) DO UPDATE SET event_id = excluded.event_id, lane = excluded.lane,"
                    + " seq = 0, until_at = excluded.until_at WHERE keel_dedup.until_at <= ? RETURNING dedup_key";
        }
    }

    private static String rows(String row, int count) {
        return String.join(", ", Collections.nCopies(count, row));
    }

    /** The index in {@link #ROWS} of the largest statement for {@code left} rows. */
    private static int rowsFor(int left) {
        int size = 0;
        while (ROWS[size] > left) {
            size++;
        }
        return size;
    }

    /**
     * The group's batches with linked writes, by kind, in the order they are applied: kinds by {@link
     * LinkedWrite.Kind#rank()}, and within a kind by key in code point order (the group's order among equal keys).
     */
    static Map<LinkedWrite.Kind, List<Integer>> linkedInOrder(List<GroupCommitWriter.Batch> batches) {
        List<Integer> linked = new ArrayList<>();
        for (int b = 0; b < batches.size(); b++) {
            if (batches.get(b).linked() != null) {
                linked.add(b);
            }
        }
        linked.sort(java.util.Comparator.<Integer>comparingInt(
                        b -> batches.get(b).linked().kind().rank())
                .thenComparing(b -> stored(batches.get(b).linked().key()), Database.CODE_POINT_ORDER));
        Map<LinkedWrite.Kind, List<Integer>> byKind = new java.util.LinkedHashMap<>();
        for (int b : linked) {
            byKind.computeIfAbsent(batches.get(b).linked().kind(), k -> new ArrayList<>())
                    .add(b);
        }
        return byKind;
    }

    /**
     * A dedup key as the database stores and returns it: text goes to it as UTF-8, where a lone surrogate
     * becomes '?'. Two keys that differ only there are one key in the database, so they must be one here.
     */
    static String stored(String key) {
        if (key == null) {
            return null;
        }
        for (int i = 0; i < key.length(); i++) {
            if (Character.isSurrogate(key.charAt(i))) {
                return new String(key.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
            }
        }
        return key;
    }

    /**
     * Claims the dedup keys: each is inserted, or taken over when the one stored has expired; returns those
     * claimed (the others are held by a live event). Keys go in their sorted order, so two writers claiming
     * overlapping keys lock them in the same order (a deadlock with another instance's expiry sweep is
     * possible, and retried as any deadlock is).
     */
    private static Set<String> claim(Statements st, List<Append> appends, TreeMap<String, Integer> keys, long now)
            throws SQLException {
        Set<String> claimed = new HashSet<>();
        Iterator<Map.Entry<String, Integer>> next = keys.entrySet().iterator();
        int left = keys.size();
        while (left > 0) {
            int size = rowsFor(left);
            PreparedStatement claim = st.prepare(CLAIM_SQL[size]);
            int p = 1;
            for (int row = 0; row < ROWS[size]; row++) {
                Map.Entry<String, Integer> k = next.next();
                Append a = appends.get(k.getValue());
                claim.setString(p++, k.getKey());
                claim.setString(p++, a.event().id());
                claim.setInt(p++, a.lane());
                claim.setLong(p++, a.dedupUntil().toEpochMilli());
            }
            claim.setLong(p, now);
            try (ResultSet r = claim.executeQuery()) {
                while (r.next()) {
                    claimed.add(r.getString(1));
                }
            }
            left -= ROWS[size];
        }
        return claimed;
    }

    /**
     * Gives the writer's connection back to the pool, or, after a failure, has the pool drop it; called by the
     * writer thread, or after it stopped.
     */
    private void closeWriterConnection(boolean failed) {
        Statements st = writerStatements;
        writerStatements = null;
        if (st != null) {
            st.close();
            if (failed) {
                db.pool.evictConnection(st.connection());
                return;
            }
            try {
                st.connection().close();
            } catch (SQLException ignored) {
                // a connection that failed may fail to close too; the pool replaces it
            }
        }
    }

    // ---- outcomes through the writer ----

    /** Commits outcomes: with the next group on a single-writer database, in their own transaction otherwise. */
    void commit(Commit commit) {
        db.ensureOpen();
        if (!db.dialect.singleWriter()) {
            outcomes.commit(commit);
            return;
        }
        // One writer for everything: the outcome shares the next transaction (and fsync) with appends and other
        // lanes' outcomes instead of queueing for the database's single write lock.
        try {
            writer.submit(commit).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw new JournalException(
                    "could not commit delivery outcomes of '" + commit.subscription() + "' on lane " + commit.lane()
                            + ": " + e.getCause(),
                    e.getCause());
        }
    }

    // ---- reading ----

    /**
     * Another instance says it appended to the lane: the heads are read again before the next {@link #head} of that
     * lane, unless a read that started after the notice has run by then. The notice's sequence is not used: a
     * head is only ever what the database holds.
     */
    void appendedElsewhere(int lane, long sequence) {
        if (lane >= 0 && lane < hintedAt.length()) {
            hintedAt.set(lane, ticks.incrementAndGet());
        }
    }

    long head(int lane) {
        db.lane(lane);
        if (db.dialect.sharedByInstances()) {
            if (stale(lane)) {
                try {
                    synchronized (headsLock) {
                        if (stale(lane)) { // callers at once share one read: the later ones find it fresh
                            refreshHeads();
                        }
                    }
                } catch (JournalException e) {
                    // The cached heads stay valid for this instance's own appends; deliveries retry the database.
                }
            }
        }
        return heads.get(lane);
    }

    /** Whether the heads are older than the refresh interval, or than another instance's notice for the lane. */
    private boolean stale(int lane) {
        return System.nanoTime() - headsReadAt > HEADS_REFRESH.toNanos() || hintedAt.get(lane) > headsReadTick;
    }

    private void refreshHeads() {
        headsReadTick = ticks.incrementAndGet();
        headsReadAt = System.nanoTime();
        db.query("read the lane heads", "SELECT lane, head FROM keel_lanes", r -> {
            while (r.next()) {
                int lane = r.getInt(1);
                if (lane < heads.length()) {
                    heads.accumulateAndGet(lane, r.getLong(2), Math::max);
                }
            }
            return null;
        });
    }

    List<LogRecord> read(int lane, long after, int max) {
        db.ensureOpen();
        db.lane(lane);
        List<RecentAppends.Entry> recentOnes = recent.after(lane, after, max);
        if (!recentOnes.isEmpty()) {
            List<LogRecord> out = new ArrayList<>(recentOnes.size());
            for (RecentAppends.Entry e : recentOnes) {
                out.add(new LogRecord(lane, e.sequence(), decode(lane, e.sequence(), e.envelope())));
            }
            return out;
        }
        return db.query(
                "read lane " + lane,
                "SELECT seq, envelope FROM keel_log WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
                r -> {
                    List<LogRecord> out = new ArrayList<>();
                    while (r.next()) {
                        long seq = r.getLong(1);
                        out.add(new LogRecord(lane, seq, decode(lane, seq, r.getBytes(2))));
                    }
                    return out;
                },
                Database.position(lane, after),
                Database.position(lane, Database.MAX_SEQ),
                max);
    }

    /**
     * The event an envelope holds; one that cannot be read (damaged, or written by hand) is handed on as {@link
     * LogRecord#UNREADABLE_TYPE}, which every subscription dead-letters, instead of failing every read of its lane.
     */
    private Event<?> decode(int lane, long seq, byte[] envelope) {
        try {
            return db.codec.read(envelope);
        } catch (JournalException e) {
            log.warn(
                    "the envelope of event {} of lane {} is not a Keel event ({}); every subscription dead-letters"
                            + " it with its bytes",
                    seq,
                    lane,
                    e.getMessage());
            return EnvelopeCodec.unreadable(
                    envelope, EnvelopeCodec.UNREADABLE_BYTES_KEPT, "keel-log-" + lane + "-" + seq, db.clock.instant());
        }
    }

    // ---- retention ----

    /** The oldest sequence kept in a lane up to {@code upTo}, or 0 when there is none. */
    private long oldestSequence(int lane, long upTo) {
        return db.query(
                "find the oldest event of lane " + lane,
                "SELECT MIN(position) FROM keel_log WHERE position > ? AND position <= ?",
                r -> {
                    long oldest = r.next() ? r.getLong(1) : 0;
                    return r.wasNull() || oldest == 0 ? 0 : oldest - Database.position(lane, 0);
                },
                Database.position(lane, 0),
                Database.position(lane, upTo));
    }

    void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        db.ensureOpen();
        db.lane(lane);
        long nowMillis = now.toEpochMilli();
        recent.forget(lane, passed); // before the delete: a read never gets from memory what the log lost
        long oldest = oldestSequence(lane, passed);
        // In slices of PRUNE_SLICE events, each its own short write: the group-commit writer waits for one
        // slice at most, never for a whole second's worth of deletes. Never past a cursor stored in the
        // journal: a subscription this process has not registered (yet, or any more) still owns its place.
        for (long from = oldest - 1; oldest > 0 && from < passed; from += PRUNE_SLICE) {
            long to = Math.min(passed, from + PRUNE_SLICE);
            int deleted = db.update(
                    "prune lane " + lane,
                    "DELETE FROM keel_log WHERE position > ? AND position <= ? AND appended_at < ?"
                            + " AND seq <= COALESCE((SELECT MIN(position) FROM keel_cursors WHERE lane = ?), ?)",
                    Database.position(lane, from),
                    Database.position(lane, to),
                    appendedBefore.toEpochMilli(),
                    lane,
                    passed);
            if (deleted < to - from) {
                break; // the rest is too young or not passed by a stored cursor; the next round goes on
            }
        }
        if (nowMillis - lastSweep >= SWEEP_EVERY.toMillis()) {
            lastSweep = nowMillis;
            db.update("expire dedup records", "DELETE FROM keel_dedup WHERE until_at < ?", nowMillis);
            db.update(
                    "expire inbox records",
                    "DELETE FROM keel_inbox WHERE processed_at < ?",
                    nowMillis - Inbox.RETENTION.toMillis());
        }
    }

    // ---- the writer ----

    @Override
    public String describe() {
        return db.dialect.name();
    }

    @Override
    public JournalException failure(String what, SQLException e) {
        return db.failure(what, e);
    }

    /** Writes what is queued and stops the writer. */
    void close() {
        if (writer.close()) {
            closeWriterConnection(false);
        }
    }

    long requestsRetriedAlone() {
        return writer.retriedAlone();
    }

    int writerBacklog() {
        return writer.backlog();
    }
}
