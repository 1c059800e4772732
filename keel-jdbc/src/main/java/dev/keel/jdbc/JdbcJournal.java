package dev.keel.jdbc;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Handler;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.Pending;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLongArray;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;

/**
 * The durable journal on SQLite (the embedded default) or PostgreSQL: one schema, one code path, a small
 * dialect for each database. Appends are group-committed by one writer thread: many emits share one
 * transaction, and each emit's future completes only after that transaction is durable. Delivery outcomes
 * ({@link #commit}) are one transaction each. The schema is migrated at {@link #open} (Flyway; safe when
 * several instances start at once on PostgreSQL, which serialises migrations with an advisory lock).
 *
 * <p>Build one with {@link #sqlite(Path)}, {@link #postgres(String, String, String)} or {@link #builder()}.
 */
public final class JdbcJournal implements Journal {
    /** Default connection pool size. */
    public static final int DEFAULT_POOL_SIZE = 8;
    /** Default most appends written in one transaction. */
    public static final int DEFAULT_MAX_BATCH = 2048;

    private static final Duration PRUNE_EVERY = Duration.ofSeconds(1);
    private static final Duration HEADS_REFRESH = Duration.ofMillis(100);
    private static final Duration COMMIT_INTERVAL = Duration.ofMillis(10);
    private static final int SEQ_BITS = 53;
    private static final int PRUNE_SLICE = 512;
    private static final long MAX_SEQ = (1L << SEQ_BITS) - 1;
    /** Positions are lane × 2^53 + seq in a signed 64-bit integer: 1,024 lanes fit. */
    private static final int MAX_LANES = 1 << (63 - SEQ_BITS);

    private final Dialect dialect;
    private final int poolSize;
    private final int maxBatch;
    private final Clock clock;
    private final EnvelopeCodec codec;
    private HikariDataSource pool;
    private GroupCommitWriter writer;
    private int lanes;
    private AtomicLongArray heads;
    private RecentAppends recent;
    /** The writer thread's own connection and statements, kept across its transactions. */
    private Statements writerStatements;

    private volatile long headsReadAt;
    private volatile long lastDedupSweep;
    private volatile boolean closed;
    private final java.util.concurrent.locks.ReentrantLock writes = new java.util.concurrent.locks.ReentrantLock(true);

    private JdbcJournal(Builder b) {
        this.dialect =
                Objects.requireNonNull(b.dialect, "choose a database: sqlite(path), postgres(url, ...) or url(...)");
        this.poolSize = b.poolSize;
        this.maxBatch = b.maxBatch;
        this.clock = b.clock;
        this.codec = new EnvelopeCodec(b.objectMapper != null ? b.objectMapper : defaultMapper());
    }

    /** A journal in a SQLite file, created with its directory when missing. */
    public static JdbcJournal sqlite(Path file) {
        return builder().sqlite(file).build();
    }

    /** A journal in a PostgreSQL database ({@code jdbc:postgresql://host:port/db}). */
    public static JdbcJournal postgres(String url, String user, String password) {
        return builder().postgres(url, user, password).build();
    }

    /** A builder; choose the database with {@code sqlite}, {@code postgres} or {@code url}. */
    public static Builder builder() {
        return new Builder();
    }

    static ObjectMapper defaultMapper() {
        return new ObjectMapper()
                .registerModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);
    }

    // ---- opening ----

    @Override
    public synchronized void open(int laneCount) {
        if (laneCount < 1 || laneCount > MAX_LANES) {
            throw new IllegalArgumentException("lanes must be between 1 and " + MAX_LANES + " but was " + laneCount);
        }
        if (pool != null) {
            if (laneCount != lanes) {
                throw new JournalException(dialect.name() + " is open with " + lanes + " lanes, not " + laneCount);
            }
            return;
        }
        HikariConfig config = new HikariConfig();
        config.setPoolName("keel-journal");
        config.setMaximumPoolSize(poolSize);
        config.setInitializationFailTimeout(1);
        config.setConnectionTimeout(Duration.ofSeconds(10).toMillis());
        dialect.configure(config);
        HikariDataSource ds;
        try {
            ds = new HikariDataSource(config);
        } catch (RuntimeException e) {
            throw new JournalException(
                    "cannot reach the journal database " + dialect.name() + ": " + rootMessage(e)
                            + ". Check the URL (KEEL_JDBC_URL), credentials and that the database is up",
                    e);
        }
        try {
            migrate(ds);
            checkLanes(ds, laneCount);
            lanes = laneCount;
            heads = new AtomicLongArray(laneCount);
            recent = new RecentAppends(laneCount);
            refreshHeads(ds);
            writer = new GroupCommitWriter(this, maxBatch);
            pool = ds;
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
    }

    private void migrate(HikariDataSource ds) {
        try {
            Flyway.configure()
                    .dataSource(ds)
                    .locations("classpath:db/keel")
                    .table("keel_schema_history")
                    .placeholders(Map.of(
                            "blob",
                            dialect.blobType(),
                            "position",
                            dialect.positionType(),
                            "lock_old_log",
                            dialect.sharedByInstances() ? "LOCK TABLE keel_events IN EXCLUSIVE MODE;" : ""))
                    .load()
                    .migrate();
        } catch (FlywayException e) {
            String message = rootMessage(e);
            if (message.contains("non-empty schema") || message.contains("without schema history")) {
                throw new JournalException(
                        dialect.name() + " holds tables that are not Keel's; Keel left them untouched."
                                + " Give Keel its own database (or SQLite file)",
                        e);
            }
            throw new JournalException("cannot prepare the journal schema in " + dialect.name() + ": " + message, e);
        }
    }

    private void checkLanes(HikariDataSource ds, int laneCount) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            String stored = null;
            try (PreparedStatement s = c.prepareStatement("SELECT value FROM keel_meta WHERE name = 'lanes'");
                    ResultSet r = s.executeQuery()) {
                if (r.next()) {
                    stored = r.getString(1);
                }
            }
            if (stored == null) {
                try (PreparedStatement s = c.prepareStatement(
                        "INSERT INTO keel_meta (name, value) VALUES ('lanes', ?) ON CONFLICT (name) DO NOTHING")) {
                    s.setString(1, Integer.toString(laneCount));
                    s.executeUpdate();
                }
                try (PreparedStatement s = c.prepareStatement("SELECT value FROM keel_meta WHERE name = 'lanes'");
                        ResultSet r = s.executeQuery()) {
                    r.next();
                    stored = r.getString(1);
                }
            }
            if (Integer.parseInt(stored) != laneCount) {
                c.rollback();
                throw new JournalException("the journal in " + dialect.name() + " was created with " + stored
                        + " lanes, and this runtime asks for " + laneCount
                        + "; keys would move to other lanes and lose their order. Use lanes(" + stored + ")");
            }
            try (PreparedStatement s = c.prepareStatement(
                            "INSERT INTO keel_lanes (lane, head) VALUES (?, 0) ON CONFLICT (lane) DO NOTHING");
                    PreparedStatement l = c.prepareStatement("INSERT INTO keel_leases (lane, owner, token, expires_at)"
                            + " VALUES (?, NULL, 0, 0) ON CONFLICT (lane) DO NOTHING")) {
                for (int lane = 0; lane < laneCount; lane++) {
                    s.setInt(1, lane);
                    s.addBatch();
                    l.setInt(1, lane);
                    l.addBatch();
                }
                s.executeBatch();
                l.executeBatch();
            }
            c.commit();
        } catch (SQLException e) {
            throw failure("prepare the lanes", e);
        }
    }

    // ---- appends (group commit) ----

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        ensureOpen();
        List<byte[]> envelopes = new ArrayList<>(batch.size());
        try {
            for (Append a : batch) {
                lane(a.lane());
                envelopes.add(codec.write(a.event()));
            }
        } catch (JournalException e) {
            // Encoded here, on the caller's thread, so one event that cannot be written fails only its emit.
            return CompletableFuture.failedFuture(e);
        }
        return writer.submit(batch, envelopes);
    }

    /**
     * Writes appends and delivery outcomes in one transaction; called by the writer thread only. Outcomes come
     * after the appends: a transaction never depends on what it appends itself.
     */
    List<AppendResult> write(List<Append> appends, List<byte[]> envelopes, List<Commit> commits) throws SQLException {
        lockWrites();
        try {
            if (writerStatements == null) {
                writerStatements = new Statements(pool.getConnection());
            }
            Statements st = writerStatements;
            Connection c = st.connection();
            List<AppendResult> results;
            try {
                c.setAutoCommit(false);
                results = appends.isEmpty() ? List.of() : write(st, appends, envelopes);
                for (Commit commit : commits) {
                    apply(st, commit);
                }
                c.commit();
            } catch (Throwable e) {
                // Errors too: a transaction left open would be committed with the next group.
                rollback(c, e);
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
            {
                // Each envelope is kept before its head moves (a lane's sequences rise through the list), so a
                // lane worker that sees a head finds every envelope up to it here.
                for (int i = 0; i < results.size(); i++) {
                    AppendResult r = results.get(i);
                    if (!r.duplicate()) {
                        recent.add(r.lane(), r.sequence(), envelopes.get(i));
                        heads.accumulateAndGet(r.lane(), r.sequence(), Math::max);
                    }
                }
                return results;
            }
        } finally {
            unlockWrites();
        }
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
                pool.evictConnection(st.connection());
                return;
            }
            try {
                st.connection().close();
            } catch (SQLException ignored) {
                // a connection that failed may fail to close too; the pool replaces it
            }
        }
    }

    /** Rolls back, keeping the original failure: a database may already have rolled back on its own. */
    private static void rollback(Connection c, Throwable cause) {
        try {
            c.rollback();
        } catch (SQLException e) {
            cause.addSuppressed(e);
        }
    }

    private void lockWrites() {
        if (dialect.singleWriter()) {
            writes.lock();
        }
    }

    private void unlockWrites() {
        if (dialect.singleWriter()) {
            writes.unlock();
        }
    }

    private List<AppendResult> write(Statements st, List<Append> appends, List<byte[]> envelopes) throws SQLException {
        long now = clock.millis();
        AppendResult[] results = new AppendResult[appends.size()];
        Map<String, AppendResult> seen = new HashMap<>();
        int[] perLane = new int[lanes];
        {
            PreparedStatement find =
                    st.prepare("SELECT event_id, lane, seq, until_at FROM keel_dedup WHERE dedup_key = ?");
            for (int i = 0; i < appends.size(); i++) {
                Append a = appends.get(i);
                if (a.dedupKey() != null) {
                    AppendResult earlier = seen.get(a.dedupKey());
                    if (earlier == null) {
                        find.setString(1, a.dedupKey());
                        try (ResultSet r = find.executeQuery()) {
                            if (r.next() && r.getLong(4) > now) {
                                earlier = new AppendResult(r.getInt(2), r.getLong(3), r.getString(1), true);
                            }
                        }
                    }
                    if (earlier != null) {
                        results[i] = new AppendResult(earlier.lane(), earlier.sequence(), earlier.eventId(), true);
                        seen.putIfAbsent(a.dedupKey(), results[i]);
                        continue;
                    }
                }
                perLane[a.lane()]++;
                if (a.dedupKey() != null) {
                    seen.put(
                            a.dedupKey(),
                            new AppendResult(a.lane(), -1, a.event().id(), false));
                }
            }
        }
        long[] next = new long[lanes];
        {
            PreparedStatement bump = st.prepare("UPDATE keel_lanes SET head = head + ? WHERE lane = ? RETURNING head");
            for (int lane = 0; lane < lanes; lane++) {
                if (perLane[lane] == 0) {
                    continue;
                }
                bump.setInt(1, perLane[lane]);
                bump.setInt(2, lane);
                try (ResultSet r = bump.executeQuery()) {
                    r.next();
                    next[lane] = r.getLong(1) - perLane[lane] + 1;
                    if (r.getLong(1) > MAX_SEQ) {
                        throw new JournalException("lane " + lane + " of " + dialect.name() + " has reached its last"
                                + " sequence number (2^53 - 1); start a new journal");
                    }
                }
            }
        }
        {
            PreparedStatement insert =
                    st.prepare("INSERT INTO keel_log (position, lane, seq, event_id, type, appended_at, envelope)"
                            + " VALUES (?, ?, ?, ?, ?, ?, ?)");
            PreparedStatement dedup = st.prepare(
                    "INSERT INTO keel_dedup (dedup_key, event_id, lane, seq, until_at) VALUES (?, ?, ?, ?, ?)"
                            + " ON CONFLICT (dedup_key) DO UPDATE SET event_id = excluded.event_id,"
                            + " lane = excluded.lane, seq = excluded.seq, until_at = excluded.until_at");
            boolean dedups = false;
            for (int i = 0; i < appends.size(); i++) {
                if (results[i] != null) {
                    continue;
                }
                Append a = appends.get(i);
                long seq = next[a.lane()]++;
                insert.setLong(1, position(a.lane(), seq));
                insert.setInt(2, a.lane());
                insert.setLong(3, seq);
                insert.setString(4, a.event().id());
                insert.setString(5, a.event().type());
                insert.setLong(6, now);
                insert.setBytes(7, envelopes.get(i));
                insert.addBatch();
                results[i] = new AppendResult(a.lane(), seq, a.event().id(), false);
                if (a.dedupKey() != null) {
                    dedup.setString(1, a.dedupKey());
                    dedup.setString(2, a.event().id());
                    dedup.setInt(3, a.lane());
                    dedup.setLong(4, seq);
                    dedup.setLong(5, a.dedupUntil().toEpochMilli());
                    dedup.addBatch();
                    dedups = true;
                }
            }
            insert.executeBatch();
            if (dedups) {
                dedup.executeBatch();
            }
        }
        // Duplicates of an event first seen in this same batch get its sequence.
        for (int i = 0; i < results.length; i++) {
            Append a = appends.get(i);
            if (results[i].duplicate() && results[i].sequence() < 0) {
                for (int j = 0; j < i; j++) {
                    if (a.dedupKey().equals(appends.get(j).dedupKey()) && !results[j].duplicate()) {
                        results[i] =
                                new AppendResult(results[j].lane(), results[j].sequence(), results[j].eventId(), true);
                        break;
                    }
                }
            }
        }
        return List.of(results);
    }

    /** The log's key: lanes are at most 1,024 and a lane's sequence stays below 2^53 (see V5__clustered_log). */
    static long position(int lane, long seq) {
        return ((long) lane << SEQ_BITS) + seq;
    }

    // ---- reading ----

    @Override
    public long head(int lane) {
        lane(lane);
        if (dialect.sharedByInstances() && System.nanoTime() - headsReadAt > HEADS_REFRESH.toNanos()) {
            try {
                refreshHeads(pool);
            } catch (JournalException e) {
                // The cached heads stay valid for this instance's own appends; deliveries retry the database.
            }
        }
        return heads.get(lane);
    }

    private void refreshHeads(HikariDataSource ds) {
        headsReadAt = System.nanoTime();
        try (Connection c = ds.getConnection();
                PreparedStatement s = c.prepareStatement("SELECT lane, head FROM keel_lanes");
                ResultSet r = s.executeQuery()) {
            while (r.next()) {
                int lane = r.getInt(1);
                if (lane < heads.length()) {
                    heads.accumulateAndGet(lane, r.getLong(2), Math::max);
                }
            }
        } catch (SQLException e) {
            throw failure("read the lane heads", e);
        }
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        ensureOpen();
        lane(lane);
        List<RecentAppends.Entry> recentOnes = recent.after(lane, after, max);
        if (!recentOnes.isEmpty()) {
            List<LogRecord> out = new ArrayList<>(recentOnes.size());
            for (RecentAppends.Entry e : recentOnes) {
                out.add(new LogRecord(lane, e.sequence(), codec.read(e.envelope())));
            }
            return out;
        }
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(
                        "SELECT seq, envelope FROM keel_log WHERE position > ? AND position <= ? ORDER BY position LIMIT ?")) {
            s.setLong(1, position(lane, after));
            s.setLong(2, position(lane, MAX_SEQ));
            s.setInt(3, max);
            try (ResultSet r = s.executeQuery()) {
                List<LogRecord> out = new ArrayList<>();
                while (r.next()) {
                    out.add(new LogRecord(lane, r.getLong(1), codec.read(r.getBytes(2))));
                }
                return out;
            }
        } catch (SQLException e) {
            throw failure("read lane " + lane, e);
        }
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        ensureOpen();
        try (Connection c = pool.getConnection();
                PreparedStatement s =
                        c.prepareStatement("SELECT position FROM keel_cursors WHERE subscription = ? AND lane = ?")) {
            s.setString(1, subscription);
            s.setInt(2, lane);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? OptionalLong.of(r.getLong(1)) : OptionalLong.empty();
            }
        } catch (SQLException e) {
            throw failure("read the cursor of '" + subscription + "' on lane " + lane, e);
        }
    }

    // ---- outcomes ----

    @Override
    public void commit(Commit commit) {
        ensureOpen();
        if (commit.isEmpty()) {
            return;
        }
        if (dialect.singleWriter()) {
            // One writer for everything: the outcome shares the next transaction (and fsync) with appends
            // and other lanes' outcomes instead of queueing for the database's single write lock.
            try {
                writer.submit(commit).join();
                return;
            } catch (java.util.concurrent.CompletionException e) {
                if (e.getCause() instanceof RuntimeException cause) {
                    throw cause;
                }
                throw new JournalException(
                        "could not commit delivery outcomes of '" + commit.subscription() + "' on lane " + commit.lane()
                                + ": " + e.getCause(),
                        e.getCause());
            }
        }
        lockWrites();
        try (Connection c = pool.getConnection();
                Statements st = new Statements(c)) {
            c.setAutoCommit(false);
            try {
                apply(st, commit);
                c.commit();
            } catch (SQLException | RuntimeException e) {
                rollback(c, e);
                throw e;
            }
        } catch (SQLException e) {
            throw failure("commit delivery outcomes of '" + commit.subscription() + "' on lane " + commit.lane(), e);
        } finally {
            unlockWrites();
        }
    }

    private void apply(Statements st, Commit commit) throws SQLException {
        String sub = commit.subscription();
        int lane = commit.lane();
        if (commit.fence() != Commit.NO_FENCE) {
            {
                PreparedStatement s = st.prepare(
                        "SELECT token FROM keel_leases WHERE lane = ?" + (dialect.singleWriter() ? "" : " FOR UPDATE"));
                s.setInt(1, lane);
                try (ResultSet r = s.executeQuery()) {
                    long current = r.next() ? r.getLong(1) : -1;
                    if (current != commit.fence()) {
                        throw new dev.keel.spi.LeaseLostException(lane, commit.fence(), current);
                    }
                }
            }
        }
        if (commit.cursor() != Commit.UNCHANGED) {
            {
                PreparedStatement s = st.prepare(
                        "INSERT INTO keel_cursors (subscription, lane, position)"
                                + " VALUES (?, ?, ?) ON CONFLICT (subscription, lane) DO UPDATE SET position = excluded.position");
                s.setString(1, sub);
                s.setInt(2, lane);
                s.setLong(3, commit.cursor());
                s.executeUpdate();
            }
        }
        if (!commit.removals().isEmpty()) {
            {
                PreparedStatement s =
                        st.prepare("DELETE FROM keel_pending WHERE subscription = ? AND lane = ? AND seq = ?");
                for (Long seq : commit.removals()) {
                    s.setString(1, sub);
                    s.setInt(2, lane);
                    s.setLong(3, seq);
                    s.addBatch();
                }
                s.executeBatch();
            }
        }
        if (!commit.upserts().isEmpty()) {
            {
                PreparedStatement s = st.prepare("INSERT INTO keel_pending"
                        + " (subscription, lane, seq, scope, parked, attempt, due_at, errors, replay_count, envelope)"
                        + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, lane, seq) DO UPDATE SET"
                        + " scope = excluded.scope, parked = excluded.parked, attempt = excluded.attempt,"
                        + " due_at = excluded.due_at, errors = excluded.errors, replay_count = excluded.replay_count,"
                        + " envelope = excluded.envelope");
                for (Pending p : commit.upserts()) {
                    s.setString(1, sub);
                    s.setInt(2, lane);
                    s.setLong(3, p.sequence());
                    s.setString(4, p.scope());
                    s.setInt(5, p.parked() ? 1 : 0);
                    s.setInt(6, p.attempt());
                    if (p.dueAt() == null) {
                        s.setNull(7, Types.BIGINT);
                    } else {
                        s.setLong(7, p.dueAt().toEpochMilli());
                    }
                    s.setString(8, codec.writeErrors(p.errors()));
                    s.setInt(9, p.replayCount());
                    s.setBytes(10, codec.write(p.event()));
                    s.addBatch();
                }
                s.executeBatch();
            }
        }
        if (!commit.removedDeadLetters().isEmpty()) {
            {
                PreparedStatement s = st.prepare("DELETE FROM keel_dead_letters WHERE id = ?");
                for (String id : commit.removedDeadLetters()) {
                    s.setString(1, id);
                    s.addBatch();
                }
                s.executeBatch();
            }
        }
        if (!commit.deadLetters().isEmpty()) {
            {
                PreparedStatement s = st.prepare("INSERT INTO keel_dead_letters (id, subscription, lane,"
                        + " seq, type, partition_key, tenant, last_error_type, reason, errors, dead_lettered_at,"
                        + " replay_count, poison, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                for (DeadLetter d : commit.deadLetters()) {
                    s.setString(1, d.id());
                    s.setString(2, d.subscription());
                    s.setInt(3, d.lane());
                    s.setLong(4, d.sequence());
                    s.setString(5, d.event().type());
                    s.setString(6, d.event().partitionKey());
                    s.setString(7, d.event().tenant());
                    s.setString(8, d.lastErrorType());
                    s.setString(9, d.reason());
                    s.setString(10, codec.writeErrors(d.errors()));
                    s.setLong(11, d.deadLetteredAt().toEpochMilli());
                    s.setInt(12, d.replayCount());
                    s.setInt(13, d.poison() ? 1 : 0);
                    s.setBytes(14, codec.write(d.event()));
                    s.addBatch();
                }
                s.executeBatch();
            }
        }
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        ensureOpen();
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(
                        "SELECT seq, scope, parked, attempt, due_at, errors,"
                                + " replay_count, envelope FROM keel_pending WHERE subscription = ? AND lane = ? ORDER BY seq")) {
            s.setString(1, subscription);
            s.setInt(2, lane);
            try (ResultSet r = s.executeQuery()) {
                List<Pending> out = new ArrayList<>();
                while (r.next()) {
                    long due = r.getLong(5);
                    Instant dueAt = r.wasNull() ? null : Instant.ofEpochMilli(due);
                    out.add(new Pending(
                            subscription,
                            lane,
                            r.getLong(1),
                            r.getString(2),
                            r.getInt(3) != 0,
                            r.getInt(4),
                            dueAt,
                            codec.readErrors(r.getString(6)),
                            r.getInt(7),
                            codec.read(r.getBytes(8))));
                }
                return out;
            }
        } catch (SQLException e) {
            throw failure("read the pending deliveries of '" + subscription + "' on lane " + lane, e);
        }
    }

    // ---- dead letters ----

    private static final String DEAD_LETTER_COLUMNS =
            "id, subscription, lane, seq, errors, reason," + " dead_lettered_at, replay_count, poison, envelope";

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        ensureOpen();
        StringBuilder sql = new StringBuilder("SELECT " + DEAD_LETTER_COLUMNS + " FROM keel_dead_letters WHERE 1 = 1");
        List<Object> args = new ArrayList<>();
        if (query.subscription() != null) {
            sql.append(" AND subscription = ?");
            args.add(query.subscription());
        }
        if (query.key() != null) {
            sql.append(" AND partition_key = ?");
            args.add(query.key());
        }
        if (query.tenant() != null) {
            sql.append(" AND tenant = ?");
            args.add(query.tenant());
        }
        if (query.olderThan() != null) {
            sql.append(" AND dead_lettered_at < ?");
            args.add(query.olderThan().toEpochMilli());
        }
        if (query.newerThan() != null) {
            sql.append(" AND dead_lettered_at >= ?");
            args.add(query.newerThan().toEpochMilli());
        }
        // Ids grow with the time of dead-lettering (UUIDv7): id order is that time's order.
        boolean newest = query.newestFirst();
        String after = query.afterId() == null ? (newest ? null : "") : query.afterId();
        List<DeadLetter> out = new ArrayList<>();
        int page = Math.min(DeadLetterQuery.MAX_LIMIT, Math.max(query.limit() * 2, 64));
        try (Connection c = pool.getConnection()) {
            while (out.size() < query.limit()) {
                String bounded = after == null
                        ? sql + " ORDER BY id DESC LIMIT ?"
                        : sql + (newest ? " AND id < ? ORDER BY id DESC LIMIT ?" : " AND id > ? ORDER BY id LIMIT ?");
                int rows = 0;
                try (PreparedStatement s = c.prepareStatement(bounded)) {
                    int i = 1;
                    for (Object arg : args) {
                        s.setObject(i++, arg);
                    }
                    if (after != null) {
                        s.setString(i++, after);
                    }
                    s.setInt(i, page);
                    try (ResultSet r = s.executeQuery()) {
                        while (r.next()) {
                            rows++;
                            DeadLetter d = deadLetter(r);
                            after = d.id();
                            if (query.matches(d)) {
                                out.add(d);
                                if (out.size() == query.limit()) {
                                    break;
                                }
                            }
                        }
                    }
                }
                if (rows < page) {
                    break;
                }
            }
            return out;
        } catch (SQLException e) {
            throw failure("list dead letters", e);
        }
    }

    private DeadLetter deadLetter(ResultSet r) throws SQLException {
        return new DeadLetter(
                r.getString(1),
                r.getString(2),
                r.getInt(3),
                r.getLong(4),
                codec.read(r.getBytes(10)),
                codec.readErrors(r.getString(5)),
                r.getString(6),
                Instant.ofEpochMilli(r.getLong(7)),
                r.getInt(8),
                r.getInt(9) != 0);
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        ensureOpen();
        try (Connection c = pool.getConnection();
                PreparedStatement s =
                        c.prepareStatement("SELECT " + DEAD_LETTER_COLUMNS + " FROM keel_dead_letters WHERE id = ?")) {
            s.setString(1, id);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Optional.of(deadLetter(r)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("read dead letter " + id, e);
        }
    }

    @Override
    public boolean updateDeadLetter(DeadLetter d) {
        return update(
                        "update dead letter " + d.id(),
                        "UPDATE keel_dead_letters SET reason = ?, errors = ?, last_error_type = ?, replay_count = ?,"
                                + " poison = ? WHERE id = ?",
                        d.reason(),
                        codec.writeErrors(d.errors()),
                        d.lastErrorType(),
                        d.replayCount(),
                        d.poison() ? 1 : 0,
                        d.id())
                > 0;
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        return update("delete dead letter " + id, "DELETE FROM keel_dead_letters WHERE id = ?", id) > 0;
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        return update(
                "purge dead letters",
                "DELETE FROM keel_dead_letters WHERE dead_lettered_at < ?",
                before.toEpochMilli());
    }

    @Override
    public long countDeadLetters(String subscription) {
        ensureOpen();
        String sql = subscription == null
                ? "SELECT COUNT(*) FROM keel_dead_letters"
                : "SELECT COUNT(*) FROM keel_dead_letters WHERE subscription = ?";
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(sql)) {
            if (subscription != null) {
                s.setString(1, subscription);
            }
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getLong(1);
            }
        } catch (SQLException e) {
            throw failure("count dead letters", e);
        }
    }

    // ---- pauses ----

    @Override
    public void pause(String key, Instant until) {
        if (until == null) {
            update("resume " + key, "DELETE FROM keel_pauses WHERE pause_key = ?", key);
        } else {
            update(
                    "pause " + key,
                    "INSERT INTO keel_pauses (pause_key, until_at) VALUES (?, ?)"
                            + " ON CONFLICT (pause_key) DO UPDATE SET until_at = excluded.until_at",
                    key,
                    until.toEpochMilli());
        }
    }

    @Override
    public Map<String, Instant> pauses(Instant now) {
        ensureOpen();
        try (Connection c = pool.getConnection();
                PreparedStatement s =
                        c.prepareStatement("SELECT pause_key, until_at FROM keel_pauses WHERE until_at > ?")) {
            s.setLong(1, now.toEpochMilli());
            try (ResultSet r = s.executeQuery()) {
                Map<String, Instant> out = new HashMap<>();
                while (r.next()) {
                    out.put(r.getString(1), Instant.ofEpochMilli(r.getLong(2)));
                }
                return out;
            }
        } catch (SQLException e) {
            throw failure("read the pauses", e);
        }
    }

    // ---- lane leases ----

    /** Lane leases on PostgreSQL, where several instances may share the journal; none on SQLite. */
    @Override
    public Optional<dev.keel.spi.LaneLeases> leases() {
        return dialect.sharedByInstances() ? Optional.of(new Leases()) : Optional.empty();
    }

    /** Leases in {@code keel_leases}, timed by the database clock, granted with increasing fencing tokens. */
    private final class Leases implements dev.keel.spi.LaneLeases {
        @Override
        public Held heartbeat(String instance, Duration ttl) {
            ensureOpen();
            String now = dialect.nowMillis();
            long ttlMillis = ttl.toMillis();
            try (Connection c = pool.getConnection()) {
                c.setAutoCommit(false);
                try {
                    execute(
                            c,
                            "INSERT INTO keel_instances (instance, expires_at) VALUES (?, " + now + " + ?)"
                                    + " ON CONFLICT (instance) DO UPDATE SET expires_at = excluded.expires_at",
                            instance,
                            ttlMillis);
                    execute(c, "DELETE FROM keel_instances WHERE expires_at < " + now + " - 60000");
                    long live = queryLong(c, "SELECT COUNT(*) FROM keel_instances WHERE expires_at > " + now);
                    execute(
                            c,
                            "UPDATE keel_leases SET expires_at = " + now + " + ? WHERE owner = ? AND expires_at > "
                                    + now,
                            ttlMillis,
                            instance);
                    Map<Integer, Long> held = new java.util.TreeMap<>();
                    try (PreparedStatement s = c.prepareStatement("SELECT lane, token FROM keel_leases WHERE owner = ?"
                            + " AND expires_at > " + now + " ORDER BY lane")) {
                        s.setString(1, instance);
                        try (ResultSet r = s.executeQuery()) {
                            while (r.next()) {
                                held.put(r.getInt(1), r.getLong(2));
                            }
                        }
                    }
                    int fair = (int) Math.ceil(lanes / (double) Math.max(1, live));
                    if (held.size() < fair) {
                        List<Integer> free = new ArrayList<>();
                        try (PreparedStatement s = c.prepareStatement("SELECT lane FROM keel_leases WHERE owner IS NULL"
                                + " OR expires_at <= " + now + " ORDER BY lane LIMIT ?" + dialect.skipLocked())) {
                            s.setInt(1, fair - held.size());
                            try (ResultSet r = s.executeQuery()) {
                                while (r.next()) {
                                    free.add(r.getInt(1));
                                }
                            }
                        }
                        for (int lane : free) {
                            execute(
                                    c,
                                    "UPDATE keel_leases SET owner = ?, token = token + 1, expires_at = " + now
                                            + " + ? WHERE lane = ?",
                                    instance,
                                    ttlMillis,
                                    lane);
                            held.put(lane, queryLong(c, "SELECT token FROM keel_leases WHERE lane = " + lane));
                        }
                    }
                    c.commit();
                    return new Held(held, fair);
                } catch (SQLException | RuntimeException e) {
                    rollback(c, e);
                    throw e;
                }
            } catch (SQLException e) {
                throw failure("renew the lane leases of " + instance, e);
            }
        }

        @Override
        public void release(String instance, java.util.Collection<Integer> released) {
            for (int lane : released) {
                update(
                        "release lane " + lane,
                        "UPDATE keel_leases SET owner = NULL, expires_at = 0 WHERE owner = ? AND lane = ?",
                        instance,
                        lane);
            }
        }
    }

    private static void execute(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                s.setObject(i + 1, args[i]);
            }
            s.executeUpdate();
        }
    }

    private static long queryLong(Connection c, String sql) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql);
                ResultSet r = s.executeQuery()) {
            r.next();
            return r.getLong(1);
        }
    }

    // ---- transactional handlers ----

    /**
     * Wraps a handler so that its database work applies effectively once per (subscription, event). Each
     * delivery runs in one transaction on this journal's database: the handler's statements, then a row in
     * {@code keel_inbox} for the subscription and event id, then the commit. A delivery that finds its row
     * already there (a redelivery after a crash, which at-least-once delivery allows) skips the handler.
     * If the handler throws, everything it wrote is rolled back and the attempt fails as usual.
     *
     * <p>What is guaranteed: writes made through the given connection, to this database, happen at most
     * once per subscription and event, and at least once for every acknowledged event. What is not: side
     * effects outside that connection (HTTP calls, other databases, messages) may still repeat on
     * redelivery; inbox rows are kept for the dedup window of {@link #INBOX_RETENTION}.
     */
    public <T> Handler<T> transactional(Class<T> type, TransactionalHandler<T> handler) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(handler, "handler");
        return delivery -> {
            ensureOpen();
            lockWrites();
            try (Connection c = pool.getConnection()) {
                c.setAutoCommit(false);
                try {
                    boolean fresh;
                    try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_inbox (subscription, event_id,"
                            + " processed_at) VALUES (?, ?, ?) ON CONFLICT (subscription, event_id) DO NOTHING")) {
                        s.setString(1, delivery.subscription());
                        s.setString(2, delivery.event().id());
                        s.setLong(3, clock.millis());
                        fresh = s.executeUpdate() == 1;
                    }
                    if (fresh) {
                        handler.handle(delivery, c);
                    }
                    c.commit();
                } catch (Exception e) {
                    rollback(c, e);
                    throw e;
                }
            } finally {
                unlockWrites();
            }
        };
    }

    /** How long the inbox of transactional handlers remembers an applied event. */
    public static final Duration INBOX_RETENTION = Duration.ofDays(7);

    // ---- retention ----

    /** The oldest sequence kept in a lane up to {@code upTo}, or 0 when there is none. */
    private long oldestSequence(int lane, long upTo) {
        try (Connection c = pool.getConnection();
                PreparedStatement s =
                        c.prepareStatement("SELECT MIN(position) FROM keel_log WHERE position > ? AND position <= ?")) {
            s.setLong(1, position(lane, 0));
            s.setLong(2, position(lane, upTo));
            try (ResultSet r = s.executeQuery()) {
                long oldest = r.next() ? r.getLong(1) : 0;
                return r.wasNull() || oldest == 0 ? 0 : oldest - position(lane, 0);
            }
        } catch (SQLException e) {
            throw failure("find the oldest event of lane " + lane, e);
        }
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        ensureOpen();
        lane(lane);
        long nowMillis = now.toEpochMilli();
        recent.forget(lane, passed); // before the delete: a read never gets from memory what the log lost
        long oldest = oldestSequence(lane, passed);
        // In slices of PRUNE_SLICE events, each its own short write: the group-commit writer waits for one
        // slice at most, never for a whole second's worth of deletes. Never past a cursor stored in the
        // journal: a subscription this process has not registered (yet, or any more) still owns its place.
        for (long from = oldest - 1; oldest > 0 && from < passed; from += PRUNE_SLICE) {
            long to = Math.min(passed, from + PRUNE_SLICE);
            int deleted = update(
                    "prune lane " + lane,
                    "DELETE FROM keel_log WHERE position > ? AND position <= ? AND appended_at < ?"
                            + " AND seq <= COALESCE((SELECT MIN(position) FROM keel_cursors WHERE lane = ?), ?)",
                    position(lane, from),
                    position(lane, to),
                    appendedBefore.toEpochMilli(),
                    lane,
                    passed);
            if (deleted < to - from) {
                break; // the rest is too young or not passed by a stored cursor; the next round goes on
            }
        }
        if (nowMillis - lastDedupSweep >= PRUNE_EVERY.toMillis()) {
            lastDedupSweep = nowMillis;
            update("expire dedup records", "DELETE FROM keel_dedup WHERE until_at < ?", nowMillis);
            update(
                    "expire inbox records",
                    "DELETE FROM keel_inbox WHERE processed_at < ?",
                    nowMillis - INBOX_RETENTION.toMillis());
        }
    }

    /** Cursor-only commits of busy subscriptions are held back up to this long, to share transactions. */
    @Override
    public Duration commitInterval() {
        return COMMIT_INTERVAL;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (writer != null) {
            if (writer.close()) {
                closeWriterConnection(false);
            }
        }
        if (pool != null) {
            pool.close();
        }
    }

    // ---- helpers ----

    private int update(String what, String sql, Object... args) {
        ensureOpen();
        lockWrites();
        try (Connection c = pool.getConnection();
                PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < args.length; i++) {
                s.setObject(i + 1, args[i]);
            }
            return s.executeUpdate();
        } catch (SQLException e) {
            throw failure(what, e);
        } finally {
            unlockWrites();
        }
    }

    JournalException failure(String what, SQLException e) {
        String message = e.getMessage() == null ? e.toString() : e.getMessage();
        String hint =
                message.contains("SQLITE_FULL") || message.contains("disk is full") || "53100".equals(e.getSQLState())
                        ? " The disk is full: free space and Keel resumes; nothing was half-written"
                        : e.getSQLState() != null && e.getSQLState().startsWith("08")
                                ? " The connection to the database was lost; if it was lost while committing, what"
                                        + " was written may have been stored: emit again with the same idempotency"
                                        + " key to be safe"
                                : "";
        return new JournalException("could not " + what + " in " + dialect.name() + ": " + message + "." + hint, e);
    }

    /** Requests the writer wrote again on their own after a shared transaction failed (for tests). */
    long requestsRetriedAlone() {
        return writer.retriedAlone();
    }

    /** Requests waiting for the writer (for tests). */
    int writerBacklog() {
        return writer.backlog();
    }

    String describe() {
        return dialect.name();
    }

    private void ensureOpen() {
        if (closed) {
            throw new JournalException("the journal " + dialect.name() + " is closed");
        }
        if (pool == null) {
            throw new JournalException("the journal " + dialect.name() + " is not open; call open(lanes) first");
        }
    }

    private void lane(int lane) {
        if (lane < 0 || lane >= lanes) {
            throw new JournalException("lane " + lane + " does not exist; the journal has " + lanes + " lanes");
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.toString() : root.getMessage();
    }

    /** Configures a {@link JdbcJournal}. */
    public static final class Builder {
        private Dialect dialect;
        private Path sqliteFile;
        private long maxBytes;
        private int poolSize = DEFAULT_POOL_SIZE;
        private int maxBatch = DEFAULT_MAX_BATCH;
        private Clock clock = Clock.systemUTC();
        private ObjectMapper objectMapper;

        private Builder() {}

        /** A SQLite file (created with its directory when missing). */
        public Builder sqlite(Path file) {
            this.sqliteFile = Objects.requireNonNull(file, "file");
            this.dialect = new SqliteDialect(file, maxBytes);
            return this;
        }

        /**
         * Caps a SQLite journal's file size, so the embedded database cannot fill the disk; past the cap
         * emits fail with {@link JournalException} as on a full disk. 0 (the default) sets no cap.
         */
        public Builder maxDatabaseBytes(long value) {
            if (value < 0) {
                throw new IllegalArgumentException("maxDatabaseBytes must be 0 (no cap) or more but was " + value);
            }
            this.maxBytes = value;
            if (sqliteFile != null) {
                this.dialect = new SqliteDialect(sqliteFile, value);
            }
            return this;
        }

        /** A PostgreSQL database. */
        public Builder postgres(String url, String user, String password) {
            if (url == null || !url.startsWith("jdbc:postgresql:")) {
                throw new IllegalArgumentException(
                        "a PostgreSQL URL starts with 'jdbc:postgresql:' but was '" + url + "'");
            }
            this.dialect = new PostgresDialect(url, user, password);
            return this;
        }

        /** A database by JDBC URL: {@code jdbc:sqlite:<file>} or {@code jdbc:postgresql://...}. */
        public Builder url(String url, String user, String password) {
            if (url != null && url.startsWith("jdbc:sqlite:")) {
                String file = url.substring("jdbc:sqlite:".length());
                if (file.isBlank() || file.startsWith(":memory:") || file.contains("?")) {
                    throw new IllegalArgumentException("a SQLite journal needs a plain file path, as in"
                            + " 'jdbc:sqlite:./keel-data/keel.db', but the URL was '" + url + "'");
                }
                return sqlite(Path.of(file));
            }
            if (url != null && url.startsWith("jdbc:postgresql:")) {
                return postgres(url, user, password);
            }
            throw new IllegalArgumentException("unsupported journal URL '" + url
                    + "'; use jdbc:sqlite:<file> or jdbc:postgresql://host:port/database");
        }

        /**
         * Connections in the pool; at least 3: the group-commit writer keeps one for itself, and reads, leases
         * and pruning need the others.
         */
        public Builder poolSize(int value) {
            if (value < 3 || value > 200) {
                throw new IllegalArgumentException("poolSize must be between 3 and 200 but was " + value);
            }
            this.poolSize = value;
            return this;
        }

        /** The most appends one transaction carries. */
        public Builder maxBatch(int value) {
            if (value < 1 || value > 100_000) {
                throw new IllegalArgumentException("maxBatch must be between 1 and 100000 but was " + value);
            }
            this.maxBatch = value;
            return this;
        }

        /** The clock of dedup windows and append times (give the runtime's). */
        public Builder clock(Clock value) {
            this.clock = Objects.requireNonNull(value, "clock");
            return this;
        }

        /** The mapper for event data and error histories. */
        public Builder objectMapper(ObjectMapper value) {
            this.objectMapper = Objects.requireNonNull(value, "objectMapper");
            return this;
        }

        public JdbcJournal build() {
            return new JdbcJournal(this);
        }
    }
}
