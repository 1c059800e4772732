package dev.keel.eventsourcing;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A command carried through Keel's log by a {@link Effect.Send} or {@link Effect.Schedule} effect, as the data of
 * an event of type {@value EventSourcing#COMMAND_TYPE}. Its event's id is the command's id: applied once.
 *
 * @param aggregate the aggregate type's name
 * @param id the target aggregate's id
 * @param command the command's stored name
 * @param data the command, JSON
 */
public record CommandMessage(String aggregate, String id, String command, JsonNode data) {}
