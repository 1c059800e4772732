package dev.keel.eventsourcing.spi;

import dev.keel.eventsourcing.Rejection;

/**
 * A command applied before, by its id: the version its append brought its stream to, and, for a command its
 * decider rejected, why (the answer a repeat gets again).
 *
 * @param commandId the command's id
 * @param stream its stream
 * @param version the stream's version after it
 * @param rejection why it was rejected, or null for one accepted (with events or without)
 */
public record AppliedCommand(String commandId, String stream, long version, Rejection rejection) {}
