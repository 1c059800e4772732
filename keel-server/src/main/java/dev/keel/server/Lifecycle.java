package dev.keel.server;

/** Whether the server has started and whether it drains; written by start and close, read by every route. */
final class Lifecycle {
    private volatile boolean started;
    private volatile boolean draining;

    boolean started() {
        return started;
    }

    boolean draining() {
        return draining;
    }

    void started(boolean value) {
        started = value;
    }

    /** Marks the server draining; false when it already was. */
    synchronized boolean drain() {
        if (draining) {
            return false;
        }
        draining = true;
        return true;
    }
}
