package dev.keel.spi;

import dev.keel.AttemptError;
import dev.keel.Event;
import java.time.Instant;
import java.util.List;

/**
 * A delivery moved off a subscription's main path: waiting for a retry, for its {@code deliverAt} time, or
 * parked behind an earlier failing event of the same ordering scope. Identified by (subscription, lane,
 * sequence).
 *
 * @param subscription the subscription
 * @param lane the event's lane
 * @param sequence the event's sequence in the lane
 * @param scope the ordering scope the entry holds back: the ordering key, the lane, or the event alone
 * @param parked true while it waits behind an earlier entry of the same scope; false when it is the head
 *     of its scope and will be delivered at {@code dueAt}
 * @param attempt attempts made so far
 * @param dueAt when the next attempt is due (for a head)
 * @param errors the failed attempts so far
 * @param replayCount how many times the event has been reprocessed from the dead letters
 * @param event the event
 */
public record Pending(
        String subscription,
        int lane,
        long sequence,
        String scope,
        boolean parked,
        int attempt,
        Instant dueAt,
        List<AttemptError> errors,
        int replayCount,
        Event<?> event) {
    public Pending {
        errors = List.copyOf(errors);
    }

    /** This entry as the head of its scope, due at the instant. */
    public Pending asHead(Instant due) {
        return new Pending(subscription, lane, sequence, scope, false, attempt, due, errors, replayCount, event);
    }
}
