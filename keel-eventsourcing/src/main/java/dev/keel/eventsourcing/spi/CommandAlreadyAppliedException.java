package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.EventSourcingException;

/**
 * The append's command was applied before (a redelivered command): nothing was appended again. The runtime
 * answers the command with the version it reached then.
 */
public final class CommandAlreadyAppliedException extends EventSourcingException {
    private final String commandId;
    private final long version;

    public CommandAlreadyAppliedException(String commandId, long version) {
        super("command " + commandId + " was applied before, bringing its stream to version " + version);
        this.commandId = commandId;
        this.version = version;
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
