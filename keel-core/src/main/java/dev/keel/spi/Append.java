package dev.keel.spi;

import dev.keel.Event;
import java.time.Instant;

/**
 * One event to append.
 *
 * @param lane the lane chosen by the runtime
 * @param event the event
 * @param dedupKey when not null, an event with the same key accepted before {@code dedupUntil} makes this
 *     one a duplicate: it is not stored and the earlier event's position is returned
 * @param dedupUntil how long the dedup key is remembered
 */
public record Append(int lane, Event<?> event, String dedupKey, Instant dedupUntil) {}
