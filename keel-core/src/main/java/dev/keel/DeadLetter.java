package dev.keel;

import java.time.Instant;
import java.util.List;

/**
 * An event a subscription gave up on, with everything needed to understand and replay it.
 *
 * @param id the dead letter's id
 * @param subscription the subscription that failed
 * @param lane the lane of the event
 * @param sequence the event's position in its lane
 * @param event the event
 * @param errors every failed attempt, oldest first
 * @param reason why delivery stopped (attempts exhausted, a permanent failure, ...)
 * @param deadLetteredAt when it was dead-lettered
 * @param replayCount how many times it has been reprocessed
 * @param poison true when it must not be reprocessed again (replay limit reached or marked by hand)
 */
public record DeadLetter(
        String id,
        String subscription,
        int lane,
        long sequence,
        Event<?> event,
        List<AttemptError> errors,
        String reason,
        Instant deadLetteredAt,
        int replayCount,
        boolean poison) {
    public DeadLetter {
        errors = List.copyOf(errors);
    }

    /** The type name of the last error, or null when there was none. */
    public String lastErrorType() {
        return errors.isEmpty() ? null : errors.getLast().errorType();
    }

    /** This dead letter marked as poison. */
    public DeadLetter asPoison() {
        return new DeadLetter(
                id, subscription, lane, sequence, event, errors, reason, deadLetteredAt, replayCount, true);
    }
}
