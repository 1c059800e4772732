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
 * The generation before the previous one is dropped at the switch (the previous one stays, for readers that
 * asked just before). A new model is built this way when added. Order across streams is not kept by a
 * rebuild, only within each stream.
 *
 * <p>Threads: deliveries run on the lane workers; rebuilds on a virtual thread each, one at a time per model.
 * They meet only in the database, where the checkpoint row of a (generation, stream) is locked by whichever
 * applies events to it (the write lock on SQLite, {@code FOR UPDATE} on PostgreSQL).
 */
public final class ReadModels implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReadModels.class);
    private static final int STREAMS_PER_TRANSACTION = 200;

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
        if (generations[0] == 0 || generations[1] != 0) {
            // Never built, or a rebuild was under way when the process stopped: build (again).
            return rebuild(model.name());
        }
        return CompletableFuture.completedFuture(0L);
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
            int[] generations = lockGenerations(c, model.name());
            for (int generation : generations) {
                if (generation > 0) {
                    bringUp(c, model, generation, stream, type, version.getAsLong());
                }
            }
            return null;
        });
    }

    /** The generations to write (active, being built), the model's row locked against a switch meanwhile. */
    private int[] lockGenerations(Connection c, String name) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(
                "SELECT generation, rebuilding FROM keel_es_projections WHERE name = ?" + forUpdate())) {
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
        List<RecordedEvent> events = JdbcEventStore.load(c, stream, checkpoint, upTo);
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
            int[] at = lockGenerations(c, name);
            int building = Math.max(at[0], at.length > 1 ? at[1] : 0) + 1;
            if (at.length > 1) {
                // A rebuild that a stopped process left half done: its table goes, this one starts afresh.
                drop(c, model, at[1]);
            }
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
        List<String> types = model.reads().stream().map(t -> t.name()).toList();
        long replayed = 0;
        String after = "";
        while (!closed.get()) {
            List<String[]> page = streams(types, after);
            if (page.isEmpty()) {
                break;
            }
            long[] count = new long[1];
            db.transaction("rebuild read model '" + name + "'", c -> {
                for (String[] stream : page) {
                    count[0] += bringUp(c, model, generation, stream[0], stream[1], Long.MAX_VALUE);
                }
                return null;
            });
            replayed += count[0];
            after = page.getLast()[0];
        }
        if (closed.get()) {
            throw new IllegalStateException("read models closed during the rebuild of '" + name + "'");
        }
        db.transaction("switch read model '" + name + "' to generation " + generation, c -> {
            int[] at = lockGenerations(c, name);
            try (PreparedStatement s = c.prepareStatement(
                    "UPDATE keel_es_projections SET generation = ?, rebuilding = NULL, updated_at = ? WHERE name = ?")) {
                s.setInt(1, generation);
                s.setLong(2, db.clock.millis());
                s.setString(3, name);
                s.executeUpdate();
            }
            // The previous generation stays for readers that asked for it just before; the one before it goes.
            for (int old = at[0] - 1; old >= 1 && old >= at[0] - 2; old--) {
                drop(c, model, old);
            }
            return null;
        });
        log.info("read model '{}' rebuilt as generation {} from {} events", name, generation, replayed);
        return replayed;
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
        args[types.size() + 1] = STREAMS_PER_TRANSACTION;
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

    /** For logs and tests: when the model's row last changed. */
    Instant updatedAt(String name) {
        return db.query(
                "read model row",
                "SELECT updated_at FROM keel_es_projections WHERE name = ?",
                r -> r.next() ? Instant.ofEpochMilli(r.getLong(1)) : Instant.EPOCH,
                name);
    }
}
