package dev.keel.eventsourcing.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import dev.keel.eventsourcing.AggregateType;
import dev.keel.eventsourcing.EventDecodingException;
import dev.keel.eventsourcing.spi.RecordedEvent;
import dev.keel.eventsourcing.spi.Snapshot;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Events, commands and states to and from JSON, for command handling: stored events read back through their
 * type's upcasters, snapshots that are ignored when they no longer read. Shared by every thread; its readers,
 * one per class, are made once and never changed.
 */
public final class StreamCodec {
    private static final Logger log = LoggerFactory.getLogger(StreamCodec.class);

    private final ObjectMapper mapper;
    private final Map<Class<?>, ObjectReader> readers = new ConcurrentHashMap<>();

    public StreamCodec(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    /** A value as JSON bytes. */
    public byte[] write(Object value) throws IOException {
        return mapper.writeValueAsBytes(value);
    }

    /** A value as a JSON tree. */
    public JsonNode tree(Object value) {
        return mapper.valueToTree(value);
    }

    /** A JSON tree as a value of the class. */
    public <T> T read(JsonNode tree, Class<T> type) throws IOException {
        return mapper.treeToValue(tree, type);
    }

    /**
     * A delivered payload (plain JSON values, or the object itself) as a value of the class.
     *
     * @throws IllegalArgumentException when it does not convert
     */
    public <T> T convert(Object payload, Class<T> type) {
        return mapper.convertValue(payload, type);
    }

    /**
     * Reads a stored event as its class, through its type's upcasters.
     *
     * @throws EventDecodingException when its type is unknown, its data does not read, an upcaster throws, or
     *     it was written at a newer revision than this code knows
     */
    public Object decode(AggregateType<Object, Object, Object> type, RecordedEvent re) {
        Class<?> cls = type.eventClass(re.type());
        if (cls == null) {
            throw new EventDecodingException(
                    re.stream(),
                    re.version(),
                    "'" + re.type() + "' is not an event type of aggregate '" + type.name() + "'",
                    null);
        }
        int current = type.revision(re.type());
        if (re.revision() > current) {
            throw new EventDecodingException(
                    re.stream(),
                    re.version(),
                    "it was written at revision " + re.revision() + " of " + re.type() + ", newer than this code's "
                            + current,
                    null);
        }
        try {
            if (re.revision() == current) {
                return reader(cls).readValue(re.data());
            }
            JsonNode old = mapper.readTree(re.data());
            JsonNode now;
            try {
                now = type.upcast(re.type(), re.revision(), old);
            } catch (RuntimeException e) {
                throw new EventDecodingException(
                        re.stream(),
                        re.version(),
                        "the upcaster of " + re.type() + " from revision " + re.revision() + " threw " + e,
                        e);
            }
            return reader(cls).readValue(now);
        } catch (IOException e) {
            throw new EventDecodingException(
                    re.stream(), re.version(), "its data does not read as " + cls.getName() + ": " + e.getMessage(), e);
        }
    }

    /** A reader per event class: made once, it reads faster than the mapper looking the class up each time. */
    private ObjectReader reader(Class<?> cls) {
        return readers.computeIfAbsent(cls, mapper::readerFor);
    }

    /**
     * A snapshot's state, or null when it was taken at another revision or no longer reads (then
     * {@code unreadable} runs and a warning is logged: the caller folds the events instead).
     */
    public Object restore(AggregateType<Object, Object, Object> type, Snapshot s, Runnable unreadable) {
        if (s.revision() != type.snapshotRevision()) {
            return null; // taken at another revision of the state: folding the events is the way
        }
        try {
            Class<?> cls = Class.forName(s.stateType(), false, type.stateClass().getClassLoader());
            if (!type.stateClass().isAssignableFrom(cls)) {
                throw new IOException(
                        cls.getName() + " is not a " + type.stateClass().getName());
            }
            return mapper.readValue(s.state(), cls);
        } catch (IOException | ClassNotFoundException | LinkageError e) {
            unreadable.run();
            log.warn(
                    "the snapshot of {} at version {} does not read ({}); it is ignored and the state is built from"
                            + " its events (it is replaced at the next snapshot)",
                    s.stream(),
                    s.version(),
                    e.toString());
            return null;
        }
    }
}
