package dev.keel;

/**
 * A dead letter was reprocessed as many times as the runtime allows, or is marked as poison: replaying it
 * again would most likely loop. Fix the cause, then delete it or emit a corrected event.
 */
public final class ReplayLimitExceededException extends KeelException {
    private static final long serialVersionUID = 1L;

    public ReplayLimitExceededException(DeadLetter d, int maxReplays) {
        super("dead letter '" + d.id() + "' (event " + d.event().id() + ", subscription '" + d.subscription() + "') "
                + (d.poison() && d.replayCount() < maxReplays
                        ? "is marked as poison"
                        : "was reprocessed " + d.replayCount() + " times, the limit is " + maxReplays)
                + "; it is not reprocessed again");
    }
}
