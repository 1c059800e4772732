package dev.keel.spi;

import dev.keel.Event;

/**
 * An event at its place in the log.
 *
 * @param lane the lane
 * @param sequence position in the lane, from 1, increasing by one
 * @param event the event
 */
public record LogRecord(int lane, long sequence, Event<?> event) {}
