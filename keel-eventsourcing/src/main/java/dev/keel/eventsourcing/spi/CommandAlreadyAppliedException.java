package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.EventSourcingException;

/**
 * The append's command was applied before (a redelivered command): nothing was appended again. The runtime
 * answers the command with the version it reached then.
 */
public final class CommandAlreadyAppliedException extends EventSourcingException {
    private final String commandId;
    private final long version;
    private final dev.keel.eventsourcing.Rejection rejection;

    public CommandAlreadyAppliedException(String commandId, long version, dev.keel.eventsourcing.Rejection rejection) {
        super("command " + commandId + " was applied before, bringing its stream to version " + version
                + (rejection == null ? "" : " (rejected: " + rejection.code() + ")"));
        this.commandId = commandId;
        this.version = version;
        this.rejection = rejection;
    }

    /** Why it was rejected then, or null for one accepted. */
    public dev.keel.eventsourcing.Rejection rejection() {
        return rejection;
    }

    /** The command. */
    public String commandId() {
        return commandId;
    }

    /** The version its append reached. */
    public long version() {
        return version;
    }
}
