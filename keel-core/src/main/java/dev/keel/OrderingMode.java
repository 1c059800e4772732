package dev.keel;

/** How a subscription keeps order when a delivery fails or waits. */
public enum OrderingMode {
    /**
     * A failing (or delayed) event blocks its whole lane for this subscription until it succeeds or is
     * dead-lettered. Total order per lane; priorities are not applied.
     */
    STRICT,
    /**
     * The default: a failing (or delayed) event is moved aside and later events with the same key are
     * parked behind it, while other keys in the lane flow on. Order per key.
     */
    PER_KEY,
    /** No ordering: a failing event is retried on its own and nothing waits for it. */
    NONE
}
