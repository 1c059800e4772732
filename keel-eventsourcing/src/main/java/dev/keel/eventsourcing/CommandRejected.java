package dev.keel.eventsourcing;

/**
 * The data of a {@value EventSourcing#REJECTED_TYPE} event: a command carried by an effect was rejected by its
 * decider. A saga that sent it observes this to leave the step it was waiting in.
 *
 * @param aggregate the target aggregate type
 * @param id the target aggregate's id
 * @param command the command's stored name
 * @param code the rejection's code
 * @param message the rejection's message
 */
public record CommandRejected(String aggregate, String id, String command, String code, String message) {}
