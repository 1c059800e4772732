package dev.keel.eventsourcing;

/**
 * The decider rejected the command: an answer, not a fault. Nothing was appended, no effect ran, and the
 * command is not retried.
 */
public final class CommandRejectedException extends EventSourcingException {
    private final String stream;
    private final Rejection rejection;

    public CommandRejectedException(String stream, Object command, Rejection rejection) {
        super("stream '" + stream + "' rejected " + command.getClass().getSimpleName() + " (" + rejection.code() + "): "
                + rejection.message());
        this.stream = stream;
        this.rejection = rejection;
    }

    /** The stream. */
    public String stream() {
        return stream;
    }

    /** Why: a stable code and a message. */
    public Rejection rejection() {
        return rejection;
    }
}
