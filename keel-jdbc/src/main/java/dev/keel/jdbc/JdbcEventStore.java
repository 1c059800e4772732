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
 * all in one transaction it shares with other appends; a refused append leaves the others untouched. Two
 * instances racing on one stream (PostgreSQL) meet on the events' primary key: the second transaction fails,
 * is written again alone, and then finds the conflict.
 */
public final class JdbcEventStore implements EventStore {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<Map<String, String>> STRINGS = new TypeReference<>() {};

    private final Database db;
    private final LogTable log;

    JdbcEventStore(Database db, LogTable log) {
        this.db = db;
        this.log = log;
    }

    @Override
    public CompletableFuture<Long> append(StreamWrite write, LogPublisher publisher) {
        Objects.requireNonNull(write, "write");
        db.ensureOpen();
        StreamAppend linked = new StreamAppend(write);
        return publisher.publish(appends -> log.append(appends, linked)).thenApply(receipts -> linked.reached.get());
    }

    /** One append, checked and written on the journal's writer thread, in its transaction. */
    private final class StreamAppend implements LinkedWrite {
        private final StreamWrite write;
        /** The version reached; set by the writer before the append's future completes. */
        final AtomicLong reached = new AtomicLong();

        private long actual;
        private boolean exists;

        StreamAppend(StreamWrite write) {
            this.write = write;
        }

        @Override
        public String key() {
            return write.stream();
        }

        @Override
        public RuntimeException check(Connection c) throws SQLException {
            if (write.commandId() != null) {
                try (PreparedStatement s = c.prepareStatement("SELECT version, rejection_code, rejection_message FROM"
                        + " keel_es_commands WHERE command_id = ?")) {
                    s.setString(1, write.commandId());
                    try (ResultSet r = s.executeQuery()) {
                        if (r.next()) {
                            return new CommandAlreadyAppliedException(
                                    write.commandId(), r.getLong(1), rejection(r.getString(2), r.getString(3)));
                        }
                    }
                }
            }
            // On PostgreSQL the row is locked until the commit: an append or a delete of the stream by another
            // instance waits, then sees this one's version.
            try (PreparedStatement s = c.prepareStatement(
                    "SELECT version, deleted, stream_type FROM keel_es_streams WHERE stream_id = ?" + forUpdate())) {
                s.setString(1, write.stream());
                try (ResultSet r = s.executeQuery()) {
                    exists = r.next();
                    actual = exists ? r.getLong(1) : 0;
                    if (exists && r.getInt(2) != 0) {
                        return new StreamDeletedException(write.stream());
                    }
                    if (exists && !r.getString(3).equals(write.streamType())) {
                        return new IllegalArgumentException("stream '" + write.stream() + "' is of type '"
                                + r.getString(3) + "', not '" + write.streamType() + "'");
                    }
                }
            }
            if (!write.expected().matches(actual)) {
                return new StreamConflictException(write.stream(), write.expected(), actual);
            }
            return null;
        }

        @Override
        public void write(Connection c) throws SQLException {
            long now = db.clock.millis();
            long version = actual;
            if (write.events().isEmpty()) {
                // Only the record that the command was applied (it changed nothing, or was rejected).
                recordCommand(c, version, now);
                reached.set(version);
                return;
            }
            try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_es_events (stream_id, version, event_id,"
                    + " type, revision, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
                for (NewEvent e : write.events()) {
                    s.setString(1, write.stream());
                    s.setLong(2, ++version);
                    s.setString(3, e.eventId());
                    s.setString(4, e.type());
                    s.setInt(5, e.revision());
                    s.setBytes(6, e.data());
                    s.setString(7, e.metadata().isEmpty() ? null : json(e.metadata()));
                    s.setLong(8, now);
                    s.addBatch();
                }
                s.executeBatch();
            }
            if (exists) {
                try (PreparedStatement s = c.prepareStatement(
                        "UPDATE keel_es_streams SET version = ?, label = ?, updated_at = ? WHERE stream_id = ?")) {
                    s.setLong(1, version);
                    s.setString(2, write.label());
                    s.setLong(3, now);
                    s.setString(4, write.stream());
                    s.executeUpdate();
                }
            } else {
                try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_es_streams (stream_id, stream_type,"
                        + " version, deleted, label, updated_at) VALUES (?, ?, ?, 0, ?, ?)")) {
                    s.setString(1, write.stream());
                    s.setString(2, write.streamType());
                    s.setLong(3, version);
                    s.setString(4, write.label());
                    s.setLong(5, now);
                    s.executeUpdate();
                }
            }
            recordCommand(c, version, now);
            reached.set(version);
        }

        private void recordCommand(Connection c, long version, long now) throws SQLException {
            if (write.commandId() == null) {
                return;
            }
            try (PreparedStatement s = c.prepareStatement("INSERT INTO keel_es_commands (command_id, stream_id,"
                    + " version, rejection_code, rejection_message, applied_at) VALUES (?, ?, ?, ?, ?, ?)")) {
                s.setString(1, write.commandId());
                s.setString(2, write.stream());
                s.setLong(3, version);
                s.setString(
                        4, write.rejection() == null ? null : write.rejection().code());
                s.setString(
                        5, write.rejection() == null ? null : write.rejection().message());
                s.setLong(6, now);
                s.executeUpdate();
            }
        }
    }

    @Override
    public List<RecordedEvent> load(String stream, long afterVersion, int max) {
        Objects.requireNonNull(stream, "stream");
        if (max < 1) {
            throw new IllegalArgumentException("max must be 1 or more but was " + max);
        }
        return db.query(
                "load stream '" + stream + "'",
                "SELECT version, event_id, type, revision, data, metadata, recorded_at FROM keel_es_events"
                        + " WHERE stream_id = ? AND version > ? ORDER BY version LIMIT ?",
                r -> {
                    List<RecordedEvent> events = new ArrayList<>();
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
                    return events;
                },
                stream,
                afterVersion,
                max);
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
