package dev.keel.eventsourcing;

/** No registered aggregate takes the command's class (or the stream type named): a wiring fault. */
public final class UnknownStreamTypeException extends EventSourcingException {
    public UnknownStreamTypeException(String message) {
        super(message);
    }
}
