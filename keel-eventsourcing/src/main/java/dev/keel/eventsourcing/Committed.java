package dev.keel.eventsourcing;

import java.util.List;

/**
 * What a command came to.
 *
 * @param stream the stream ({@code type:id})
 * @param version the stream's version after the command
 * @param events the events the command appended; none for a decision that changed nothing, or a repeat
 * @param repeated whether the command (by its id) had been applied before, so nothing was appended now
 */
public record Committed(String stream, long version, List<Object> events, boolean repeated) {
    /** Copies. */
    public Committed {
        events = List.copyOf(events);
    }
}
