package dev.keel.spi;

import java.util.Optional;

/**
 * The storage SPI under every Keel engine, split by concern so that a new engine sees what it must do:
 *
 * <ul>
 *   <li>{@link EventLog}: the log split into lanes, cursors, the pending set and outcome counts;
 *   <li>{@link DeadLetterStore}: dead letters and the durable requests to reprocess them;
 *   <li>{@link Coordination}: pauses, lane leases with fencing, and the subscriptions every instance runs;
 *   <li>{@link AuditTrail}: the record of administrative actions, where the engine keeps one.
 * </ul>
 *
 * <p>Every engine runs the contract suite in {@code keel-test} ({@code JournalContract}), which proves each
 * of these the same way on every engine.
 */
public interface Journal extends EventLog, DeadLetterStore, Coordination, AutoCloseable {

    /**
     * The journal's audit trail, stored beside its other records; empty for an engine that keeps none, which
     * the server reports as such rather than losing entries silently.
     */
    default Optional<AuditTrail> auditTrail() {
        return Optional.empty();
    }

    /** Releases the store. */
    @Override
    void close();
}
