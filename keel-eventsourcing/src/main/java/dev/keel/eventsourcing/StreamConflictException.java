package dev.keel.eventsourcing;

/**
 * An append found its stream at another version than it expected: another command (on this instance or
 * another) appended first. Nothing of the append was stored. Decide again on the stream's current state,
 * or let {@link EventSourcing} do it ({@link EventSourcing.Builder#retriesOnConflict(int)}).
 */
public final class StreamConflictException extends EventSourcingException {
    private final String stream;
    private final ExpectedVersion expected;
    private final long actual;

    public StreamConflictException(String stream, ExpectedVersion expected, long actual) {
        super("stream '" + stream + "' is at version " + actual + ", not " + expected
                + "; another command appended first. Load the stream again and decide on its current state");
        this.stream = stream;
        this.expected = expected;
        this.actual = actual;
    }

    /** The stream. */
    public String stream() {
        return stream;
    }

    /** The version the append expected. */
    public ExpectedVersion expected() {
        return expected;
    }

    /** The version the stream was at. */
    public long actual() {
        return actual;
    }
}
