package dev.keel.spi;

import dev.keel.Event;

/**
 * An event at its place in the log.
 *
 * @param lane the lane
 * @param sequence position in the lane, from 1, increasing by one
 * @param event the event
 */
public record LogRecord(int lane, long sequence, Event<?> event) {
    /**
     * The type of the event an engine puts in place of a record it cannot read as an event (another writer's
     * record in Keel's log, a damaged one), with the record's bytes as data. Every subscription reading its lane
     * dead-letters it at once, without calling a handler, and goes on: it never blocks a lane, and it is never
     * passed over unseen.
     */
    public static final String UNREADABLE_TYPE = "keel.unreadable";
}
