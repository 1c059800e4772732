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
import dev.keel.spi.AuditTrail;
import dev.keel.spi.Commit;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;

/**
 * The durable journal on SQLite (the embedded default) or PostgreSQL: one schema, one code path, a small
 * dialect for each database. Appends are group-committed by one writer thread: many emits share one
 * transaction, and each emit's future completes only after that transaction is durable.
 *
 * <p>It is a facade over one part per concern: {@link Schema} (migrations, lane count), {@link LogTable}
 * (appends, heads, reads, pruning), {@link Outcomes} (cursors, pending entries, outcome counts, fencing),
 * {@link DeadLetterTable} (dead letters and reprocess requests), {@link Pauses}, {@link StoredSubscriptions},
 * {@link Leases} (PostgreSQL only) and {@link Inbox} (transactional handlers).
 *
 * <p>Build one with {@link #sqlite(Path)}, {@link #postgres(String, String, String)} or {@link #builder()}.
 */
public final class JdbcJournal implements Journal {
    /** Default connection pool size. */
    public static final int DEFAULT_POOL_SIZE = 8;
    /** Default most appends written in one transaction. */
    public static final int DEFAULT_MAX_BATCH = 2048;
    /** How long the inbox of transactional handlers remembers an applied event. */
    public static final Duration INBOX_RETENTION = Inbox.RETENTION;

    private static final Duration COMMIT_INTERVAL = Duration.ofMillis(10);

    private final Dialect dialect;
    private final int poolSize;
    private final int maxBatch;
    private final boolean shareDatabase;
    private final Clock clock;
    private final EnvelopeCodec codec;

    private Database db;
    /** Lease heartbeats on connections of their own, so that busy handlers never make them wait for one. */
    private Database leasesDb;

    private JdbcEventStore eventStore;
    private JdbcOutbox outbox;
    /** SQLite only: keeps the write-ahead log short, off the writer's path. */
    private WalCheckpointer checkpointer;

    private LogTable log;
    private Outcomes outcomes;
    private DeadLetterTable deadLetters;
    private Pauses pauses;
    private StoredSubscriptions stored;
    private AuditTrail audit;
    private Inbox inbox;
    private volatile boolean closed;

    private JdbcJournal(Builder b) {
        this.dialect =
                Objects.requireNonNull(b.dialect(), "choose a database: sqlite(path), postgres(url, ...) or url(...)");
        this.poolSize = b.poolSize;
        this.maxBatch = b.maxBatch;
        this.shareDatabase = b.shareDatabase;
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

    // ---- opening and closing ----

    @Override
    public void compressPayloads(dev.keel.PayloadCompression compression) {
        codec.compressPayloads(compression);
    }

    @Override
    public synchronized void open(int laneCount) {
        if (laneCount < 1 || laneCount > Database.MAX_LANES) {
            throw new IllegalArgumentException(
                    "lanes must be between 1 and " + Database.MAX_LANES + " but was " + laneCount);
        }
        if (closed) {
            throw new JournalException("the journal " + dialect.name() + " is closed");
        }
        if (db != null) {
            if (laneCount != db.lanes) {
                throw new JournalException(dialect.name() + " is open with " + db.lanes + " lanes, not " + laneCount);
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
                    "cannot reach the journal database " + dialect.name() + ": " + Database.rootMessage(e)
                            + ". Check the URL (KEEL_JDBC_URL), credentials and that the database is up",
                    e);
        }
        try {
            Schema.migrate(ds, dialect, shareDatabase);
            Schema.checkLanes(ds, dialect, laneCount);
            Database opened = new Database(ds, dialect, codec, clock, laneCount);
            outcomes = new Outcomes(opened);
            log = new LogTable(opened, outcomes, maxBatch);
            deadLetters = new DeadLetterTable(opened);
            pauses = new Pauses(opened);
            stored = new StoredSubscriptions(opened);
            audit = new JdbcAuditTrail(opened);
            inbox = new Inbox(opened);
            if (dialect.sharedByInstances()) {
                HikariConfig leaseConfig = new HikariConfig();
                leaseConfig.setPoolName("keel-leases");
                leaseConfig.setMaximumPoolSize(2);
                leaseConfig.setConnectionTimeout(Duration.ofSeconds(10).toMillis());
                dialect.configure(leaseConfig);
                leaseConfig.setMaximumPoolSize(2);
                leasesDb = new Database(new HikariDataSource(leaseConfig), dialect, codec, clock, laneCount);
            }
            if (dialect.singleWriter()) {
                checkpointer = new WalCheckpointer(opened);
            }
            db = opened;
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (outbox != null) {
            outbox.close();
        }
        if (checkpointer != null) {
            checkpointer.stop();
        }
        if (db != null) {
            log.close();
            db.close();
        }
        if (leasesDb != null) {
            leasesDb.close();
        }
    }

    private Database db() {
        Database d = db;
        if (d == null) {
            throw new JournalException(
                    closed
                            ? "the journal " + dialect.name() + " is closed"
                            : "the journal " + dialect.name() + " is not open; call open(lanes) first");
        }
        d.ensureOpen();
        return d;
    }

    // ---- the log and cursors ----

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        db();
        return log.append(batch);
    }

    @Override
    public long head(int lane) {
        db();
        return log.head(lane);
    }

    @Override
    public void appendedElsewhere(int lane, long sequence) {
        if (log != null) {
            log.appendedElsewhere(lane, sequence);
        }
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        db();
        return log.read(lane, after, max);
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        db();
        return outcomes.cursor(subscription, lane);
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        db();
        return outcomes.openCursor(subscription, lane, startAt);
    }

    @Override
    public void commit(Commit commit) {
        db();
        if (commit.isEmpty()) {
            return;
        }
        log.commit(commit);
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        db();
        return outcomes.pending(subscription, lane);
    }

    @Override
    public Tally tally(String subscription) {
        db();
        return outcomes.tally(subscription);
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        db();
        log.prune(lane, passed, appendedBefore, now);
    }

    /** Cursor-only commits of busy subscriptions are held back up to this long, to share transactions. */
    @Override
    public Duration commitInterval() {
        return COMMIT_INTERVAL;
    }

    // ---- dead letters ----

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        db();
        return deadLetters.list(query);
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        db();
        return deadLetters.get(id);
    }

    @Override
    public boolean updateDeadLetter(DeadLetter deadLetter) {
        db();
        return deadLetters.update(deadLetter);
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        db();
        return deadLetters.delete(id);
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        db();
        return deadLetters.purge(before);
    }

    @Override
    public long countDeadLetters(String subscription) {
        db();
        return deadLetters.count(subscription);
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        db();
        return deadLetters.requestReprocess(deadLetterId, at);
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        db();
        return deadLetters.orders(max);
    }

    // ---- coordination ----

    @Override
    public void pause(PauseKey key, Instant until) {
        db();
        pauses.pause(key, until);
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        db();
        return pauses.live(now);
    }

    /** Lane leases on PostgreSQL, where several instances may share the journal; none on SQLite. */
    @Override
    public Optional<LaneLeases> leases() {
        db();
        return dialect.sharedByInstances() ? Optional.of(new Leases(leasesDb)) : Optional.empty();
    }

    /** The audit trail in {@code keel_audit}, shared by every instance on the database. */
    @Override
    public Optional<AuditTrail> auditTrail() {
        db();
        return Optional.of(audit);
    }

    @Override
    public long saveSubscription(String key, String document) {
        db();
        return stored.save(key, document);
    }

    @Override
    public long deleteSubscription(String key) {
        db();
        return stored.delete(key);
    }

    @Override
    public List<StoredSubscription> subscriptions() {
        db();
        return stored.list();
    }

    @Override
    public long subscriptionsRevision() {
        db();
        return stored.revision();
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
            db();
            inbox.handle(delivery, handler);
        };
    }

    // ---- the event store ----

    /**
     * The event store of keel-eventsourcing in this journal's database: stream appends commit in the same
     * transaction as the log events they publish. Give it the {@link dev.keel.Keel} runtime built on this
     * journal (see {@code EventSourcing.builder}). One store per journal: its appends share group commits.
     */
    public synchronized JdbcEventStore eventStore() {
        db();
        if (eventStore == null) {
            eventStore = new JdbcEventStore(db, log);
        }
        return eventStore;
    }

    /**
     * Read models in this journal's database, fed by the runtime built on this journal and read back through
     * the command handling's aggregate types (see {@link ReadModels}).
     */
    public ReadModels readModels(dev.keel.Keel keel, dev.keel.eventsourcing.EventSourcing sourcing) {
        db();
        return new ReadModels(db, Objects.requireNonNull(keel, "keel"), Objects.requireNonNull(sourcing, "sourcing"));
    }

    // ---- the transactional outbox ----

    /**
     * The transactional outbox of this journal, relaying through {@code keel}, polling every
     * {@link JdbcOutbox#DEFAULT_POLL_INTERVAL}. Build the journal with {@link Builder#shareDatabase()} on the
     * application's database, so that its writes commit in the application's transactions. One outbox per
     * journal: asking again with the same runtime returns the same one (not started until
     * {@link JdbcOutbox#start()}).
     *
     * @param keel the runtime built on this journal; its events are appended to this journal's log
     * @throws IllegalArgumentException when this journal's outbox relays through another runtime already (one
     *     journal serves one runtime)
     */
    public JdbcOutbox outbox(dev.keel.Keel keel) {
        return outbox(keel, JdbcOutbox.DEFAULT_POLL_INTERVAL);
    }

    /** The transactional outbox, polling at the interval given; see {@link #outbox(dev.keel.Keel)}. */
    public synchronized JdbcOutbox outbox(dev.keel.Keel keel, Duration pollInterval) {
        Objects.requireNonNull(keel, "keel");
        db();
        if (outbox == null) {
            outbox = new JdbcOutbox(keel, db, log, pollInterval);
        } else if (outbox.keel() != keel) {
            throw new IllegalArgumentException("the outbox of " + dialect.name() + " relays through another Keel"
                    + " runtime; give it the runtime built on this journal");
        } else {
            outbox.pollInterval(pollInterval);
        }
        return outbox;
    }

    // ---- for tests ----

    /** The connection pool, for tests that read tables directly. */
    javax.sql.DataSource dataSourceForTests() {
        return db().pool;
    }

    /** Requests the writer wrote again on their own after a shared transaction failed (for tests). */
    long requestsRetriedAlone() {
        return log.requestsRetriedAlone();
    }

    /** Requests waiting for the writer (for tests). */
    int writerBacklog() {
        return log.writerBacklog();
    }

    String describe() {
        return dialect.name();
    }

    /** Configures a {@link JdbcJournal}. */
    public static final class Builder {
        private Dialect dialect;
        private Path sqliteFile;
        private long maxBytes;
        private boolean shareDatabase;
        private int poolSize = DEFAULT_POOL_SIZE;
        private int maxBatch = DEFAULT_MAX_BATCH;
        private Clock clock = Clock.systemUTC();
        private ObjectMapper objectMapper;

        private Builder() {}

        /** A SQLite file (created with its directory when missing). */
        public Builder sqlite(Path file) {
            this.sqliteFile = Objects.requireNonNull(file, "file");
            this.dialect = null;
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
            return this;
        }

        /** A PostgreSQL database. */
        public Builder postgres(String url, String user, String password) {
            if (url == null || !url.startsWith("jdbc:postgresql:")) {
                throw new IllegalArgumentException(
                        "a PostgreSQL URL starts with 'jdbc:postgresql:' but was '" + url + "'");
            }
            this.sqliteFile = null;
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

        /**
         * Keel's tables, all named {@code keel_*}, live beside the application's in a database that already holds
         * them. Needed for the transactional outbox ({@link JdbcJournal#outbox}), whose rows must commit in the
         * application's transaction, so in its database. Keel migrates only its own tables and never reads or
         * changes the others. Without this, a database (or SQLite file) that holds tables but no Keel schema is
         * refused, untouched, as another application's.
         */
        public Builder shareDatabase() {
            this.shareDatabase = true;
            return this;
        }

        private Dialect dialect() {
            return sqliteFile != null ? new SqliteDialect(sqliteFile, maxBytes, shareDatabase) : dialect;
        }

        public JdbcJournal build() {
            return new JdbcJournal(this);
        }
    }
}
