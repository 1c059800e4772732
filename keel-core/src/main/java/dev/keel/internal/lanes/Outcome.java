package dev.keel.internal.lanes;

import java.time.Duration;
import java.util.Objects;

/** How one delivery attempt ended, as the lane's {@link LaneLedger} is told. */
public sealed interface Outcome {
    /** The handler returned: the event is done. */
    Outcome SUCCESS = new Success();

    /** The handler returned normally. */
    record Success() implements Outcome {}

    /**
     * The attempt failed: retried or dead-lettered by the subscription's policy.
     *
     * @param error what the handler threw (or the timeout that stopped it)
     */
    record Failure(Throwable error) implements Outcome {
        public Failure {
            Objects.requireNonNull(error, "error");
        }
    }

    /**
     * The delivery could not be made now and uses no attempt (an open circuit, a full bulkhead, a stream
     * without demand): the lane waits this long.
     */
    record Pause(Duration duration) implements Outcome {
        public Pause {
            Objects.requireNonNull(duration, "duration");
        }
    }
}
