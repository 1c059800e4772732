package dev.keel.eventsourcing;

/**
 * A stored event could not be read back: its type is not registered, its data does not deserialize, or an
 * upcaster threw. The stream's state is not built from a part of its events: the command fails whole and
 * nothing is appended.
 */
public final class EventDecodingException extends EventSourcingException {
    private final String stream;
    private final long version;

    public EventDecodingException(String stream, long version, String message, Throwable cause) {
        super("event " + version + " of stream '" + stream + "' cannot be read: " + message, cause);
        this.stream = stream;
        this.version = version;
    }

    /** The stream. */
    public String stream() {
        return stream;
    }

    /** The version of the event that could not be read. */
    public long version() {
        return version;
    }
}
