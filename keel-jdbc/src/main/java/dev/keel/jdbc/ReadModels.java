package dev.keel.jdbc;

import dev.keel.Delivery;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.eventsourcing.spi.RecordedEvent;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs read models on the journal's database. Get one with {@link JdbcJournal#readModels(Keel, EventSourcing)}.
 *
 * <p><b>Live.</b> Each model is a Keel subscription ({@code read-model:<name>}) to its aggregates' event types. A
 * delivery is applied in one transaction with the model's checkpoint for its stream (the last version applied):
 * an event at or below the checkpoint is a repeat and changes nothing; one above the next version first
 * applies the events between, read from the event store. So each event is applied exactly once per
 * generation, in version order per stream, whatever the deliveries do.
 *
 * <p><b>Rebuild.</b> {@link #rebuild(String)} creates the next generation's table, marks it as being built (from
 * then on live deliveries apply to it as well), replays every stream of the model's types from the event
 * store into it, and then switches: queries that ask {@link #table(String)} from then on read the new table.
 * Generations older than the previous one are dropped after the switch (the previous one stays, for readers
 * that asked just before). A new model is built this way when added. Order across streams is not kept by a
 * rebuild, only within each stream. A rebuild applies at most {@value #EVENTS_PER_TRANSACTION} events per
 * transaction and keeps a heartbeat on the model's row: another instance's rebuild is refused while it beats,
 * and started afresh once it has not for {@code STALE_REBUILD}; a failed rebuild drops its table and mark.
 *
 * <p>Threads: deliveries run on the lane workers; rebuilds on a virtual thread each, one at a time per model.
 * They meet only in the database: the checkpoint row of a (generation, stream) is locked by whichever applies
 * events to it, and the model's row is locked shared by deliveries and alone by a rebuild's start and switch
 * (the write lock on SQLite; {@code FOR UPDATE} and {@code FOR SHARE} on PostgreSQL).
 */
public final class ReadModels implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReadModels.class);
    private static final int STREAMS_PER_PAGE = 200;
    /** The most events a rebuild applies in one transaction (on SQLite it holds the write lock meanwhile). */
    static final int EVENTS_PER_TRANSACTION = 2_000;
    /** A rebuild whose heartbeat is older than this was left by a stopped process, and is started again. */
    static final Duration STALE_REBUILD = Duration.ofSeconds(60);

    private static final int TRANSIENT_TRIES = 3;

    private final Database db;
    private final Keel keel;
    private final EventSourcing sourcing;
    private final Map<String, ReadModel> models = new ConcurrentHashMap<>();
    private final Map<String, CompletableFuture<Long>> rebuilds = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    ReadModels(Database db, Keel keel, EventSourcing sourcing) {
        this.db = db;
        this.keel = keel;
        this.sourcing = sourcing;
    }

    /**
     * Adds a model: subscribes it, and builds its first generation when it has none yet.
     *
     * @return completes once the model has a generation to read (at once for one built before)
     */
    public CompletableFuture<Long> add(ReadModel model) {
        Objects.requireNonNull(model, "model");
        if (models.putIfAbsent(model.name(), model) != null) {
            throw new IllegalArgumentException("read model '" + model.name() + "' is added already");
        }
        db.update(
                "register read model '" + model.name() + "'",
                "INSERT INTO keel_es_projections (name, generation, rebuilding, updated_at) VALUES (?, 0, NULL, ?)"
                        + " ON CONFLICT (name) DO NOTHING",
                model.name(),
                db.clock.millis());
        keel.subscribe(Subscription.builder(subscription(model))
                .types(model.eventTypes().toArray(String[]::new))
                .handler(Object.class, d -> apply(model, d))
                .build());
        int[] generations = generations(model.name());
        boolean stale = generations[1] != 0
                && updatedAt(model.name()).isBefore(db.clock.instant().minus(STALE_REBUILD));
        if (generations[0] == 0 && generations[1] == 0 || stale) {
            // Never built, or a rebuild was left half done by a process that stopped: build (again).
            return rebuild(model.name());
        }
        if (generations[0] == 0) {
            // Being built by another instance: ready once it switches.
            return awaitFirstGeneration(model.name());
        }
        return CompletableFuture.completedFuture(0L);
    }

    private CompletableFuture<Long> awaitFirstGeneration(String name) {
        CompletableFuture<Long> ready = new CompletableFuture<>();
        Thread.ofVirtual().name("keel-read-model-wait-" + name).start(() -> {
            try {
                while (!closed.get() && generations(name)[0] == 0) {
                    Thread.sleep(200);
                }
                ready.complete(0L);
            } catch (Throwable e) {
                ready.completeExceptionally(e);
            }
        });
        return ready;
    }

    private static String subscription(ReadModel model) {
        return "read-model:" + model.name();
    }

    /**
     * The table queries read now.
     *
     * @throws IllegalStateException before the model's first generation is built
     */
    public String table(String name) {
        ReadModel model = model(name);
        int generation = generations(name)[0];
        if (generation == 0) {
            throw new IllegalStateException("read model '" + name + "' is being built for the first time; wait"
                    + " for the future add() returned");
        }
        return model.table(generation);
    }

    private ReadModel model(String name) {
        ReadModel model = models.get(name);
        if (model == null) {
            throw new IllegalArgumentException("no read model '" + name + "' was added");
        }
        return model;
    }

    /** The active generation and the one being built (0 for none). */
    private int[] generations(String name) {
        return db.query(
                "read the generations of read model '" + name + "'",
                "SELECT generation, rebuilding FROM keel_es_projections WHERE name = ?",
                r -> r.next() ? new int[] {r.getInt(1), r.getInt(2)} : new int[] {0, 0},
                name);
    }

    // ---- live ----

    private void apply(ReadModel model, Delivery<Object> delivery) {
        String stream = delivery.event().partitionKey();
        OptionalLong version = EventSourcing.versionOf(delivery.event());
        if (stream == null || version.isEmpty() || stream.indexOf(':') < 1) {
            return; // not an event a stream published
        }
        String type = stream.substring(0, stream.indexOf(':'));
        if (!model.readsType(type)) {
            return;
        }
        db.transaction("apply " + delivery.event().type() + " to read model '" + model.name() + "'", c -> {
            // A shared lock: deliveries of all lanes go on together, a rebuild's start and switch wait for them.
            int[] generations = lockGenerations(c, model.name(), true);
            for (int generation : generations) {
                if (generation > 0) {
                    bringUp(c, model, generation, stream, type, version.getAsLong());
                }
            }
            return null;
        });
    }

    /**
     * The generations to write (active, being built), the model's row locked against a switch meanwhile:
     * shared by deliveries, exclusive for a rebuild's start and switch (PostgreSQL; SQLite's write lock is
     * exclusive anyway).
     */
    private int[] lockGenerations(Connection c, String name, boolean shared) throws SQLException {
        String lock = !db.dialect.sharedByInstances() ? "" : shared ? " FOR SHARE" : " FOR UPDATE";
        try (PreparedStatement s =
                c.prepareStatement("SELECT generation, rebuilding FROM keel_es_projections WHERE name = ?" + lock)) {
            s.setString(1, name);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    throw new SQLException("read model '" + name + "' is not registered");
                }
                int active = r.getInt(1);
                int building = r.getInt(2);
                return building == 0 || building == active ? new int[] {active} : new int[] {active, building};
            }
        }
    }

    /**
     * Applies the stream's events after the generation's checkpoint up to {@code upTo}, and moves the
     * checkpoint; returns how many were applied.
     */
    private int bringUp(Connection c, ReadModel model, int generation, String stream, String type, long upTo)
            throws SQLException {
        return bringUp(c, model, generation, stream, type, upTo, Integer.MAX_VALUE);
    }

    /** As above, applying at most {@code max} events. */
    private int bringUp(Connection c, ReadModel model, int generation, String stream, String type, long upTo, int max)
            throws SQLException {
        try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_es_checkpoints (projection, generation,"
                + " stream_id, version) VALUES (?, ?, ?, 0) ON CONFLICT (projection, generation, stream_id)"
                + " DO NOTHING")) {
            s.setString(1, model.name());
            s.setInt(2, generation);
            s.setString(3, stream);
            s.executeUpdate();
        }
        long checkpoint;
        try (PreparedStatement s = c.prepareStatement("SELECT version FROM keel_es_checkpoints WHERE projection = ?"
                + " AND generation = ? AND stream_id = ?" + forUpdate())) {
            s.setString(1, model.name());
            s.setInt(2, generation);
            s.setString(3, stream);
            try (ResultSet r = s.executeQuery()) {
                r.next();
                checkpoint = r.getLong(1);
            }
        }
        if (checkpoint >= upTo) {
            return 0; // applied before: a repeat
        }
        List<RecordedEvent> events = JdbcEventStore.load(c, stream, checkpoint, upTo, max);
        String table = model.table(generation);
        long last = checkpoint;
        for (RecordedEvent e : events) {
            Object event = sourcing.decode(type, e);
            model.handler()
                    .apply(
                            c,
                            table,
                            new ProjectedEvent(stream, e.version(), e.type(), e.eventId(), event, e.recordedAt()));
            last = e.version();
        }
        if (last > checkpoint) {
            try (PreparedStatement s = c.prepareStatement("UPDATE keel_es_checkpoints SET version = ? WHERE"
                    + " projection = ? AND generation = ? AND stream_id = ?")) {
                s.setLong(1, last);
                s.setString(2, model.name());
                s.setInt(3, generation);
                s.setString(4, stream);
                s.executeUpdate();
            }
        }
        return events.size();
    }

    // ---- rebuilds ----

    /**
     * Builds the model's next generation from the event store and switches queries to it; a rebuild under way
     * is joined rather than started again.
     *
     * @return completes with the number of events replayed, once queries read the new generation
     */
    public CompletableFuture<Long> rebuild(String name) {
        ReadModel model = model(name);
        CompletableFuture<Long> done = new CompletableFuture<>();
        CompletableFuture<Long> running = rebuilds.putIfAbsent(name, done);
        if (running != null) {
            return running;
        }
        Thread.ofVirtual().name("keel-read-model-" + name).start(() -> {
            try {
                done.complete(replay(model));
            } catch (Throwable e) {
                log.warn("the rebuild of read model '{}' failed; queries still read the generation before", name, e);
                done.completeExceptionally(e);
            } finally {
                rebuilds.remove(name, done);
            }
        });
        return done;
    }

    private long replay(ReadModel model) {
        String name = model.name();
        int generation = db.transaction("start a rebuild of read model '" + name + "'", c -> {
            int[] at = lockGenerations(c, name, false);
            if (at.length > 1) {
                if (!updatedAt(c, name).isBefore(db.clock.instant().minus(STALE_REBUILD))) {
                    throw new IllegalStateException("read model '" + name + "' is being rebuilt by another instance"
                            + " (generation " + at[1] + "); wait for it to switch");
                }
                // A rebuild that a stopped process left half done: its table goes, this one starts afresh.
                drop(c, model, at[1]);
            }
            int building = Math.max(at[0], at.length > 1 ? at[1] : 0) + 1;
            try (Statement s = c.createStatement()) {
                s.execute(model.ddl(building));
            }
            try (PreparedStatement s = c.prepareStatement(
                    "UPDATE keel_es_projections SET rebuilding = ?, updated_at = ? WHERE name = ?")) {
                s.setInt(1, building);
                s.setLong(2, db.clock.millis());
                s.setString(3, name);
                s.executeUpdate();
            }
            return building;
        });
        try {
            long replayed = replayInto(model, generation);
            int previous = db.transaction("switch read model '" + name + "' to generation " + generation, c -> {
                int[] at = lockGenerations(c, name, false);
                try (PreparedStatement s = c.prepareStatement("UPDATE keel_es_projections SET generation = ?,"
                        + " rebuilding = NULL, updated_at = ? WHERE name = ? AND rebuilding = ?")) {
                    s.setInt(1, generation);
                    s.setLong(2, db.clock.millis());
                    s.setString(3, name);
                    s.setInt(4, generation);
                    if (s.executeUpdate() == 0) {
                        throw new IllegalStateException("read model '" + name + "': another instance took the rebuild"
                                + " of generation " + generation + " over");
                    }
                }
                return at[0];
            });
            // Separately, so that deliveries never wait behind a drop: the previous generation stays for readers
            // that asked for it just before; every older one goes.
            db.transaction("drop old generations of read model '" + name + "'", c -> {
                for (int old = previous - 1; old >= 1; old--) {
                    drop(c, model, old);
                }
                return null;
            });
            log.info("read model '{}' rebuilt as generation {} from {} events", name, generation, replayed);
            return replayed;
        } catch (RuntimeException e) {
            abandon(model, generation);
            throw e;
        }
    }

    /** Replays every stream of the model's types into the generation, a bounded number of events at a time. */
    private long replayInto(ReadModel model, int generation) {
        String name = model.name();
        List<String> types = model.reads().stream().map(t -> t.name()).toList();
        long replayed = 0;
        String after = "";
        while (true) {
            if (closed.get()) {
                throw new IllegalStateException("read models closed during the rebuild of '" + name + "'");
            }
            List<String[]> page = streams(types, after);
            if (page.isEmpty()) {
                return replayed;
            }
            int next = 0;
            while (next < page.size()) {
                int from = next;
                int[] progress = new int[2]; // events applied, streams finished
                inTransaction("rebuild read model '" + name + "'", c -> {
                    progress[0] = 0;
                    progress[1] = 0;
                    heartbeat(c, name, generation);
                    for (int i = from; i < page.size() && progress[0] < EVENTS_PER_TRANSACTION; i++) {
                        String[] stream = page.get(i);
                        int budget = EVENTS_PER_TRANSACTION - progress[0];
                        int applied = bringUp(c, model, generation, stream[0], stream[1], Long.MAX_VALUE, budget);
                        progress[0] += applied;
                        if (applied == budget) {
                            break; // the stream may have more: the next transaction goes on with it
                        }
                        progress[1]++;
                    }
                    return null;
                });
                replayed += progress[0];
                next += progress[1];
            }
            after = page.getLast()[0];
        }
    }

    /** Runs a transaction, again after a deadlock or serialization failure (up to three times in all). */
    private void inTransaction(String what, Database.SqlWork<Void> work) {
        for (int attempt = 1; ; attempt++) {
            try {
                db.transaction(what, work);
                return;
            } catch (dev.keel.spi.JournalException e) {
                if (attempt >= TRANSIENT_TRIES
                        || !(e.getCause() instanceof SQLException sql && GroupCommitWriter.isTransient(sql))) {
                    throw e;
                }
            }
        }
    }

    /** Marks the rebuild alive; fails when another instance took it over. */
    private void heartbeat(Connection c, String name, int generation) throws SQLException {
        try (PreparedStatement s =
                c.prepareStatement("UPDATE keel_es_projections SET updated_at = ? WHERE name = ? AND rebuilding = ?")) {
            s.setLong(1, db.clock.millis());
            s.setString(2, name);
            s.setInt(3, generation);
            if (s.executeUpdate() == 0) {
                throw new IllegalStateException(
                        "read model '" + name + "': another instance took the rebuild of generation " + generation);
            }
        }
    }

    /** After a failed rebuild: its table and marker go, so live deliveries stop writing to it. */
    private void abandon(ReadModel model, int generation) {
        try {
            db.transaction("abandon the rebuild of read model '" + model.name() + "'", c -> {
                int[] at = lockGenerations(c, model.name(), false);
                if (at.length > 1 && at[1] == generation) {
                    try (PreparedStatement s = c.prepareStatement(
                            "UPDATE keel_es_projections SET rebuilding = NULL, updated_at = ? WHERE name = ?")) {
                        s.setLong(1, db.clock.millis());
                        s.setString(2, model.name());
                        s.executeUpdate();
                    }
                    drop(c, model, generation);
                }
                return null;
            });
        } catch (RuntimeException e) {
            log.warn("could not clear the failed rebuild of read model '{}' (a later rebuild will)", model.name(), e);
        }
    }

    private void drop(Connection c, ReadModel model, int generation) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("DROP TABLE IF EXISTS " + model.table(generation));
        }
        try (PreparedStatement s =
                c.prepareStatement("DELETE FROM keel_es_checkpoints WHERE projection = ? AND generation = ?")) {
            s.setString(1, model.name());
            s.setInt(2, generation);
            s.executeUpdate();
        }
    }

    /** The next page of (stream, type) of the types, after {@code after} in stream order. */
    private List<String[]> streams(List<String> types, String after) {
        String marks = String.join(", ", java.util.Collections.nCopies(types.size(), "?"));
        Object[] args = new Object[types.size() + 2];
        for (int i = 0; i < types.size(); i++) {
            args[i] = types.get(i);
        }
        args[types.size()] = after;
        args[types.size() + 1] = STREAMS_PER_PAGE;
        return db.query(
                "list streams to rebuild from",
                "SELECT stream_id, stream_type FROM keel_es_streams WHERE stream_type IN (" + marks + ")"
                        + " AND deleted = 0 AND stream_id > ? ORDER BY stream_id LIMIT ?",
                r -> {
                    List<String[]> out = new ArrayList<>();
                    while (r.next()) {
                        out.add(new String[] {r.getString(1), r.getString(2)});
                    }
                    return out;
                },
                args);
    }

    private String forUpdate() {
        return db.dialect.sharedByInstances() ? " FOR UPDATE" : "";
    }

    /** Removes the models' subscriptions and stops rebuilds (a stopped rebuild starts again at the next add). */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        for (ReadModel model : models.values()) {
            keel.unsubscribe(subscription(model));
        }
        for (CompletableFuture<Long> f : rebuilds.values()) {
            try {
                f.get(Duration.ofSeconds(10).toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                // reported by the rebuild itself
            }
        }
    }

    private static Instant updatedAt(Connection c, String name) throws SQLException {
        try (PreparedStatement s = c.prepareStatement("SELECT updated_at FROM keel_es_projections WHERE name = ?")) {
            s.setString(1, name);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Instant.ofEpochMilli(r.getLong(1)) : Instant.EPOCH;
            }
        }
    }

    /** When the model's row last changed (a rebuild's heartbeat). */
    Instant updatedAt(String name) {
        return db.query(
                "read model row",
                "SELECT updated_at FROM keel_es_projections WHERE name = ?",
                r -> r.next() ? Instant.ofEpochMilli(r.getLong(1)) : Instant.EPOCH,
                name);
    }
}
