package dev.keel.eventsourcing;

import dev.keel.KeelException;

/** The base of keel-eventsourcing's typed failures. */
public class EventSourcingException extends KeelException {
    public EventSourcingException(String message) {
        super(message);
    }

    public EventSourcingException(String message, Throwable cause) {
        super(message, cause);
    }
}
