package dev.keel.eventsourcing;

/** The stream was deleted: it keeps a tombstone, loads find nothing, and appends to it are refused. */
public final class StreamDeletedException extends EventSourcingException {
    private final String stream;

    public StreamDeletedException(String stream) {
        super("stream '" + stream + "' was deleted; its id cannot be used again. Use a new id");
        this.stream = stream;
    }

    /** The stream. */
    public String stream() {
        return stream;
    }
}
