package dev.keel;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * One attempt to deliver an event to a subscription: the event, with its data converted to the handler's
 * type, and what happened in earlier attempts.
 *
 * @param subscription the subscription's name
 * @param event the event
 * @param attempt this attempt's number, from 1
 * @param errors the earlier failed attempts, oldest first
 * @param lane the event's lane
 * @param sequence the event's position in the lane
 * @param replayCount how many times it was reprocessed from the dead letters
 * @param deadline when this attempt's time is up (its start plus the subscription's timeout, on the runtime's
 *     clock), so the handler's own calls can bound themselves by what is left; null when it has no timeout
 * @param <T> the handler's payload type
 */
public record Delivery<T>(
        String subscription,
        Event<T> event,
        int attempt,
        List<AttemptError> errors,
        int lane,
        long sequence,
        int replayCount,
        Instant deadline) {

    /** A delivery without a deadline. */
    public Delivery(
            String subscription,
            Event<T> event,
            int attempt,
            List<AttemptError> errors,
            int lane,
            long sequence,
            int replayCount) {
        this(subscription, event, attempt, errors, lane, sequence, replayCount, null);
    }

    /**
     * The time left before the deadline, never negative, as measured by the clock given (the runtime's); empty
     * when the attempt has no deadline.
     */
    public Optional<Duration> timeLeft(Clock clock) {
        if (deadline == null) {
            return Optional.empty();
        }
        Duration left = Duration.between(clock.instant(), deadline);
        return Optional.of(left.isNegative() ? Duration.ZERO : left);
    }

    /** The event's data. */
    public T data() {
        return event.data();
    }

    /** True for the first attempt of a never-replayed event. */
    public boolean isFirstAttempt() {
        return attempt == 1 && replayCount == 0;
    }
}
