package dev.keel;

import java.util.List;

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
 * @param <T> the handler's payload type
 */
public record Delivery<T>(
        String subscription,
        Event<T> event,
        int attempt,
        List<AttemptError> errors,
        int lane,
        long sequence,
        int replayCount) {

    /** The event's data. */
    public T data() {
        return event.data();
    }

    /** True for the first attempt of a never-replayed event. */
    public boolean isFirstAttempt() {
        return attempt == 1 && replayCount == 0;
    }
}
