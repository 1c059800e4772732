package dev.keel;

import java.time.Duration;
import java.time.Instant;

/**
 * A delivery running now, as {@link Keel#runningDeliveries()} lists it for operators.
 *
 * @param subscription the subscription's name
 * @param lane the event's lane
 * @param eventId the event's id
 * @param type the event's type
 * @param key the event's key; null when it has none
 * @param attempt the attempt's number, from 1
 * @param running how long it has run so far
 * @param deadline when its time is up; null when it has no timeout
 */
public record RunningDelivery(
        String subscription,
        int lane,
        String eventId,
        String type,
        String key,
        int attempt,
        Duration running,
        Instant deadline) {}
