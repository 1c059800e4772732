package dev.keel.spi;

/**
 * The storage SPI under every Keel engine, split by concern so that a new engine sees what it must do:
 *
 * <ul>
 *   <li>{@link EventLog}: the log split into lanes, cursors, the pending set and outcome counts;
 *   <li>{@link DeadLetterStore}: dead letters and the durable requests to reprocess them;
 *   <li>{@link Coordination}: pauses, lane leases with fencing, and the subscriptions every instance runs.
 * </ul>
 *
 * <p>Every engine runs the contract suite in {@code keel-test} ({@code JournalContract}), which proves each
 * of these the same way on every engine.
 */
public interface Journal extends EventLog, DeadLetterStore, Coordination, AutoCloseable {

    /** Releases the store. */
    @Override
    void close();
}
