package dev.keel.jdbc;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.eventsourcing.ExpectedVersion;
import dev.keel.eventsourcing.Rejection;
import dev.keel.eventsourcing.StreamConflictException;
import dev.keel.eventsourcing.StreamDeletedException;
import dev.keel.eventsourcing.spi.AppliedCommand;
import dev.keel.eventsourcing.spi.CommandAlreadyAppliedException;
import dev.keel.eventsourcing.spi.EventStore;
import dev.keel.eventsourcing.spi.LogPublisher;
import dev.keel.eventsourcing.spi.NewEvent;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.eventsourcing.spi.Snapshot;
import dev.keel.eventsourcing.spi.StreamInfo;
import dev.keel.eventsourcing.spi.StreamWrite;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The event store of keel-eventsourcing in the journal's database (SQLite or PostgreSQL), in the tables
 * {@code keel_es_streams}, {@code keel_es_events}, {@code keel_es_snapshots} and {@code keel_es_commands}.
 * Get one with {@link JdbcJournal#eventStore()}.
 *
 * <p>An append is a {@link LinkedWrite}: the journal's writer checks the stream's version (and whether its
 * command was applied before), writes the events and the stream's new version, and appends the log events,
 * all in one transaction it shares with other appends; a refused append leaves the others untouched. On
 * PostgreSQL the streams' rows are locked (in code point order, as every instance locks them) until the commit:
 * two instances racing on one stream serialise, and the second finds the conflict. Two creating one new stream
 * meet on its primary key: the second transaction fails, is written again alone, and then finds it.
 */
public final class JdbcEventStore implements EventStore {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<Map<String, String>> STRINGS = new TypeReference<>() {};

    private final Database db;
    private final LogTable log;

    /** The kind of this store's appends: one object, so that a group's appends are written together. */
    private final LinkedWrite.Kind appends;

    JdbcEventStore(Database db, LogTable log) {
        this.db = db;
        this.log = log;
        this.appends = LinkedWrite.Kind.of(LinkedWrite.STREAMS, this::appendAll);
    }

    @Override
    public CompletableFuture<Long> append(StreamWrite write, LogPublisher publisher) {
        Objects.requireNonNull(write, "write");
        db.ensureOpen();
        StreamAppend linked = new StreamAppend(write);
        return publisher.publish(appends -> log.append(appends, linked)).thenApply(receipts -> linked.reached.get());
    }

    /** One append, checked and written on the journal's writer thread with the group's others. */
    private final class StreamAppend implements LinkedWrite {
        private final StreamWrite write;
        /** The version reached; set by the writer before the append's future completes. */
        final AtomicLong reached = new AtomicLong();

        StreamAppend(StreamWrite write) {
            this.write = write;
        }

        @Override
        public String key() {
            return write.stream();
        }

        @Override
        public Kind kind() {
            return appends;
        }
    }

    /** A stream as a group's appends see it while they are checked in turn. */
    private static final class StreamRow {
        final String type;
        final boolean stored;
        final boolean deleted;
        long version;
        String label;
        boolean touched;

        StreamRow(String type, boolean stored, boolean deleted, long version) {
            this.type = type;
            this.stored = stored;
            this.deleted = deleted;
            this.version = version;
        }
    }

    /**
     * Checks and writes a group's stream appends together: one read of the commands applied, one of the
     * streams (locked on PostgreSQL, so that an append or a delete by another instance waits, then sees this
     * group's versions), then one batch each of events, streams and commands. Each append is checked against
     * the streams as the appends before it in the group leave them.
     */
    private RuntimeException[] appendAll(Connection c, List<LinkedWrite> writes) throws SQLException {
        long now = db.clock.millis();
        // Ids as the database stores them (a lone surrogate becomes '?'), in the order it sorts them.
        java.util.Set<String> commandIds = new java.util.TreeSet<>(Database.CODE_POINT_ORDER);
        java.util.Set<String> streamIds = new java.util.TreeSet<>(Database.CODE_POINT_ORDER);
        for (LinkedWrite w : writes) {
            StreamWrite sw = ((StreamAppend) w).write;
            if (sw.commandId() != null) {
                commandIds.add(LogTable.stored(sw.commandId()));
            }
            streamIds.add(LogTable.stored(sw.stream()));
        }
        // The streams first, locked on PostgreSQL in the order every instance locks them: a command another
        // instance applied while this one waited for a stream is then seen by the read of the commands.
        Map<String, StreamRow> streams = new java.util.HashMap<>();
        inChunks(
                c,
                "SELECT stream_id, version, deleted, stream_type FROM keel_es_streams WHERE stream_id IN",
                " ORDER BY stream_id" + (db.dialect.sharedByInstances() ? " COLLATE \"C\"" : "") + forUpdate(),
                new ArrayList<>(streamIds),
                r -> streams.put(r.getString(1), new StreamRow(r.getString(4), true, r.getInt(3) != 0, r.getLong(2))));
        Map<String, AppliedCommand> applied = new java.util.HashMap<>();
        inChunks(
                c,
                "SELECT command_id, version, rejection_code, rejection_message, stream_id FROM keel_es_commands"
                        + " WHERE command_id IN",
                "",
                new ArrayList<>(commandIds),
                r -> applied.put(
                        r.getString(1),
                        new AppliedCommand(
                                r.getString(1),
                                r.getString(5),
                                r.getLong(2),
                                rejection(r.getString(3), r.getString(4)))));
        RuntimeException[] refused = new RuntimeException[writes.size()];
        List<long[]> accepted = new ArrayList<>(); // index, first version
        for (int i = 0; i < writes.size(); i++) {
            StreamWrite w = ((StreamAppend) writes.get(i)).write;
            String commandKey = w.commandId() == null ? null : LogTable.stored(w.commandId());
            String streamKey = LogTable.stored(w.stream());
            if (commandKey != null && applied.containsKey(commandKey)) {
                AppliedCommand before = applied.get(commandKey);
                refused[i] = new CommandAlreadyAppliedException(w.commandId(), before.version(), before.rejection());
                continue;
            }
            StreamRow row = streams.get(streamKey);
            if (row != null && row.deleted) {
                refused[i] = new StreamDeletedException(w.stream());
                continue;
            }
            if (row != null && !row.type.equals(w.streamType())) {
                refused[i] = new IllegalArgumentException(
                        "stream '" + w.stream() + "' is of type '" + row.type + "', not '" + w.streamType() + "'");
                continue;
            }
            long actual = row == null ? 0 : row.version;
            if (!w.expected().matches(actual)) {
                refused[i] = new StreamConflictException(w.stream(), w.expected(), actual);
                continue;
            }
            if (commandKey != null) {
                // A second append of the same command in this group finds the first.
                applied.put(
                        commandKey,
                        new AppliedCommand(
                                w.commandId(), w.stream(), actual + w.events().size(), w.rejection()));
            }
            accepted.add(new long[] {i, actual + 1});
            if (!w.events().isEmpty()) {
                if (row == null) {
                    row = new StreamRow(w.streamType(), false, false, 0);
                    streams.put(streamKey, row);
                }
                row.version = actual + w.events().size();
                row.label = w.label();
                row.touched = true;
            }
        }
        if (accepted.isEmpty()) {
            return refused;
        }
        try (PreparedStatement events = c.prepareStatement("INSERT INTO keel_es_events (stream_id, version, event_id,"
                        + " type, revision, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
                PreparedStatement commands = c.prepareStatement("INSERT INTO keel_es_commands (command_id,"
                        + " stream_id, version, rejection_code, rejection_message, applied_at)"
                        + " VALUES (?, ?, ?, ?, ?, ?)")) {
            boolean anyEvents = false;
            boolean anyCommands = false;
            for (long[] a : accepted) {
                StreamAppend append = (StreamAppend) writes.get((int) a[0]);
                StreamWrite w = append.write;
                long version = a[1] - 1;
                for (NewEvent e : w.events()) {
                    events.setString(1, w.stream());
                    events.setLong(2, ++version);
                    events.setString(3, e.eventId());
                    events.setString(4, e.type());
                    events.setInt(5, e.revision());
                    events.setBytes(6, e.data());
                    events.setString(7, e.metadata().isEmpty() ? null : json(e.metadata()));
                    events.setLong(8, now);
                    events.addBatch();
                    anyEvents = true;
                }
                if (w.commandId() != null) {
                    commands.setString(1, w.commandId());
                    commands.setString(2, w.stream());
                    commands.setLong(3, version);
                    commands.setString(
                            4, w.rejection() == null ? null : w.rejection().code());
                    commands.setString(
                            5, w.rejection() == null ? null : w.rejection().message());
                    commands.setLong(6, now);
                    commands.addBatch();
                    anyCommands = true;
                }
                append.reached.set(version);
            }
            if (anyEvents) {
                events.executeBatch();
            }
            if (anyCommands) {
                commands.executeBatch();
            }
        }
        try (PreparedStatement insert = c.prepareStatement("INSERT INTO keel_es_streams (stream_id, stream_type,"
                        + " version, deleted, label, updated_at) VALUES (?, ?, ?, 0, ?, ?)");
                PreparedStatement update = c.prepareStatement(
                        "UPDATE keel_es_streams SET version = ?, label = ?, updated_at = ? WHERE stream_id = ?")) {
            boolean anyInsert = false;
            boolean anyUpdate = false;
            for (String id : streamIds) {
                StreamRow row = streams.get(id);
                if (row == null || !row.touched) {
                    continue;
                }
                if (row.stored) {
                    update.setLong(1, row.version);
                    update.setString(2, row.label);
                    update.setLong(3, now);
                    update.setString(4, id);
                    update.addBatch();
                    anyUpdate = true;
                } else {
                    insert.setString(1, id);
                    insert.setString(2, row.type);
                    insert.setLong(3, row.version);
                    insert.setString(4, row.label);
                    insert.setLong(5, now);
                    insert.addBatch();
                    anyInsert = true;
                }
            }
            if (anyInsert) {
                insert.executeBatch();
            }
            if (anyUpdate) {
                update.executeBatch();
            }
        }
        return refused;
    }

    /** Rows of one statement reading by a list of keys, largest first: a few statements, three texts. */
    private static final int[] IN_SIZES = {64, 8, 1};

    /** Reads the rows whose key is in {@code keys}, in statements of {@link #IN_SIZES} keys. */
    private static void inChunks(Connection c, String select, String suffix, List<String> keys, RowReader each)
            throws SQLException {
        int at = 0;
        while (at < keys.size()) {
            int left = keys.size() - at;
            int size = IN_SIZES[0];
            for (int s : IN_SIZES) {
                if (s <= left) {
                    size = s;
                    break;
                }
            }
            try (PreparedStatement s = c.prepareStatement(
                    select + " (" + String.join(", ", java.util.Collections.nCopies(size, "?")) + ")" + suffix)) {
                for (int i = 0; i < size; i++) {
                    s.setString(i + 1, keys.get(at + i));
                }
                try (ResultSet r = s.executeQuery()) {
                    while (r.next()) {
                        each.read(r);
                    }
                }
            }
            at += size;
        }
    }

    @FunctionalInterface
    private interface RowReader {
        void read(ResultSet r) throws SQLException;
    }

    @Override
    public List<RecordedEvent> load(String stream, long afterVersion, int max) {
        Objects.requireNonNull(stream, "stream");
        if (max < 1) {
            throw new IllegalArgumentException("max must be 1 or more but was " + max);
        }
        return db.read("load stream '" + stream + "'", c -> load(c, stream, afterVersion, Long.MAX_VALUE, max));
    }

    /** At most {@code max} of the stream's events after {@code after} up to {@code upTo}, in a transaction. */
    static List<RecordedEvent> load(Connection c, String stream, long after, long upTo, int max) throws SQLException {
        List<RecordedEvent> events = new ArrayList<>();
        try (PreparedStatement s = c.prepareStatement("SELECT version, event_id, type, revision, data, metadata,"
                + " recorded_at FROM keel_es_events WHERE stream_id = ? AND version > ? AND version <= ?"
                + " ORDER BY version LIMIT ?")) {
            s.setString(1, stream);
            s.setLong(2, after);
            s.setLong(3, upTo);
            s.setInt(4, max);
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) {
                    String metadata = r.getString(6);
                    events.add(new RecordedEvent(
                            stream,
                            r.getLong(1),
                            r.getString(2),
                            r.getString(3),
                            r.getInt(4),
                            r.getBytes(5),
                            metadata == null ? Map.of() : strings(metadata),
                            Instant.ofEpochMilli(r.getLong(7))));
                }
            }
        }
        return events;
    }

    @Override
    public Optional<StreamInfo> info(String stream) {
        Objects.requireNonNull(stream, "stream");
        return db.query(
                "read stream '" + stream + "'",
                "SELECT stream_type, version, deleted, metadata FROM keel_es_streams WHERE stream_id = ?",
                r -> r.next()
                        ? Optional.of(new StreamInfo(
                                stream,
                                r.getString(1),
                                r.getLong(2),
                                r.getInt(3) != 0,
                                r.getString(4) == null ? Map.of() : strings(r.getString(4))))
                        : Optional.empty(),
                stream);
    }

    @Override
    public Optional<AppliedCommand> appliedCommand(String commandId) {
        Objects.requireNonNull(commandId, "commandId");
        return db.query(
                "read command " + commandId,
                "SELECT stream_id, version, rejection_code, rejection_message FROM keel_es_commands"
                        + " WHERE command_id = ?",
                r -> r.next()
                        ? Optional.of(new AppliedCommand(
                                commandId, r.getString(1), r.getLong(2), rejection(r.getString(3), r.getString(4))))
                        : Optional.empty(),
                commandId);
    }

    @Override
    public int pruneCommands(Instant before) {
        Objects.requireNonNull(before, "before");
        // In slices, so that on SQLite the write lock is never held for long.
        int total = 0;
        while (true) {
            int slice = db.update(
                    "prune applied commands",
                    "DELETE FROM keel_es_commands WHERE command_id IN (SELECT command_id FROM keel_es_commands"
                            + " WHERE applied_at < ? LIMIT 1000)",
                    before.toEpochMilli());
            total += slice;
            if (slice < 1000 || Thread.currentThread().isInterrupted()) {
                return total; // done, or the caller is stopping: the rest goes next time
            }
        }
    }

    private static Rejection rejection(String code, String message) {
        return code == null ? null : new Rejection(code, message == null || message.isBlank() ? code : message);
    }

    @Override
    public Map<String, Long> labels(String streamType) {
        Objects.requireNonNull(streamType, "streamType");
        return db.query(
                "count the streams of '" + streamType + "' by label",
                "SELECT label, COUNT(*) FROM keel_es_streams WHERE stream_type = ? AND deleted = 0 GROUP BY label",
                r -> {
                    Map<String, Long> counts = new java.util.TreeMap<>();
                    while (r.next()) {
                        counts.merge(r.getString(1) == null ? "" : r.getString(1), r.getLong(2), Long::sum);
                    }
                    return counts;
                },
                streamType);
    }

    @Override
    public Optional<Snapshot> snapshot(String stream) {
        Objects.requireNonNull(stream, "stream");
        return db.query(
                "read the snapshot of '" + stream + "'",
                "SELECT s.version, s.state_type, s.revision, s.state, s.taken_at FROM keel_es_snapshots s"
                        + " JOIN keel_es_streams t ON t.stream_id = s.stream_id WHERE s.stream_id = ? AND t.deleted = 0",
                r -> r.next()
                        ? Optional.of(new Snapshot(
                                stream,
                                r.getLong(1),
                                r.getString(2),
                                r.getInt(3),
                                r.getBytes(4),
                                Instant.ofEpochMilli(r.getLong(5))))
                        : Optional.empty(),
                stream);
    }

    @Override
    public void saveSnapshot(Snapshot snapshot) {
        Objects.requireNonNull(snapshot, "snapshot");
        db.update(
                "save the snapshot of '" + snapshot.stream() + "'",
                "INSERT INTO keel_es_snapshots (stream_id, version, state_type, revision, state, taken_at)"
                        + " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream_id) DO UPDATE SET version ="
                        + " excluded.version, state_type = excluded.state_type, revision = excluded.revision,"
                        + " state = excluded.state, taken_at = excluded.taken_at"
                        + " WHERE keel_es_snapshots.version <= excluded.version",
                snapshot.stream(),
                snapshot.version(),
                snapshot.stateType(),
                snapshot.revision(),
                snapshot.state(),
                snapshot.takenAt().toEpochMilli());
    }

    @Override
    public boolean deleteSnapshot(String stream) {
        Objects.requireNonNull(stream, "stream");
        return db.update(
                        "delete the snapshot of '" + stream + "'",
                        "DELETE FROM keel_es_snapshots WHERE stream_id = ?",
                        stream)
                > 0;
    }

    @Override
    public void metadata(String stream, Map<String, String> metadata) {
        Objects.requireNonNull(stream, "stream");
        String text = json(Map.copyOf(metadata));
        int changed = db.update(
                "set the metadata of '" + stream + "'",
                "UPDATE keel_es_streams SET metadata = ?, updated_at = ? WHERE stream_id = ?",
                text,
                db.clock.millis(),
                stream);
        if (changed == 0) {
            throw new IllegalArgumentException(
                    "stream '" + stream + "' does not exist; append to it before giving it metadata");
        }
    }

    @Override
    public void delete(String stream, ExpectedVersion expected) {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(expected, "expected");
        db.transaction("delete stream '" + stream + "'", c -> {
            long version;
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT version, deleted FROM keel_es_streams WHERE stream_id = ?" + forUpdate())) {
                s.setString(1, stream);
                try (ResultSet r = s.executeQuery()) {
                    if (!r.next()) {
                        throw new IllegalArgumentException("stream '" + stream + "' does not exist");
                    }
                    if (r.getInt(2) != 0) {
                        return null; // deleted before: nothing more to do
                    }
                    version = r.getLong(1);
                }
            }
            if (!expected.matches(version)) {
                throw new StreamConflictException(stream, expected, version);
            }
            Database.execute(c, "DELETE FROM keel_es_events WHERE stream_id = ?", stream);
            Database.execute(c, "DELETE FROM keel_es_snapshots WHERE stream_id = ?", stream);
            Database.execute(
                    c,
                    "UPDATE keel_es_streams SET deleted = 1, updated_at = ? WHERE stream_id = ?",
                    db.clock.millis(),
                    stream);
            return null;
        });
    }

    /** Locks the rows read until the commit where other instances may write them (PostgreSQL). */
    private String forUpdate() {
        return db.dialect.sharedByInstances() ? " FOR UPDATE" : "";
    }

    private static String json(Map<String, String> map) {
        try {
            return JSON.writeValueAsString(map);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("metadata cannot be written as JSON: " + e.getMessage(), e);
        }
    }

    private static Map<String, String> strings(String json) throws SQLException {
        try {
            return JSON.readValue(json, STRINGS);
        } catch (JsonProcessingException e) {
            throw new SQLException("stored metadata is not a JSON object of strings: " + e.getOriginalMessage(), e);
        }
    }
}
