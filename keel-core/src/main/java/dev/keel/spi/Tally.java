package dev.keel.spi;

/**
 * Counts of a subscription's delivery outcomes: added up by each {@link Commit} and kept with the cursors, so
 * that totals survive a restart and the replacement of a subscription.
 *
 * @param delivered deliveries that succeeded
 * @param failedAttempts attempts that failed (retried or not)
 * @param retriesScheduled failed attempts followed by a retry
 * @param deadLettered events given up on
 */
public record Tally(long delivered, long failedAttempts, long retriesScheduled, long deadLettered) {
    /** Nothing counted. */
    public static final Tally ZERO = new Tally(0, 0, 0, 0);

    /** This tally and another, added. */
    public Tally plus(Tally other) {
        return new Tally(
                delivered + other.delivered,
                failedAttempts + other.failedAttempts,
                retriesScheduled + other.retriesScheduled,
                deadLettered + other.deadLettered);
    }

    /** Whether it counts nothing. */
    public boolean isZero() {
        return delivered == 0 && failedAttempts == 0 && retriesScheduled == 0 && deadLettered == 0;
    }
}
