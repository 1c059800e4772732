package dev.keel.spi;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the instances sharing a journal agree on: pauses every instance honours (an operator's, an open
 * circuit's), lane leases, and the subscriptions every instance runs (the server's webhook subscriptions).
 * On a single-instance engine these simply apply to the one runtime.
 */
public interface Coordination {

    /** Stores a pause every instance honours until {@code until}; a null {@code until} removes it. */
    void pause(PauseKey key, Instant until);

    /** The pauses stored and not yet over at {@code now}. */
    Map<PauseKey, Instant> pauses(Instant now);

    /** Lane leases, when several instances may share this journal; empty for single-instance engines. */
    default Optional<LaneLeases> leases() {
        return Optional.empty();
    }

    /**
     * Stores a subscription definition every instance runs, replacing the one under the same key; the
     * document is opaque to the engine (the server keeps JSON there).
     *
     * @return the definition's new revision, higher than any earlier one of the journal
     */
    long saveSubscription(String key, String document);

    /**
     * Removes a stored subscription definition. A removal takes a revision too.
     *
     * @return the revision the removal took, or 0 when there was no such definition
     */
    long deleteSubscription(String key);

    /**
     * The highest revision a save or a removal has taken so far. Read it before {@link #subscriptions()}: a
     * definition that ran at a revision up to it and is missing from the list was removed.
     */
    long subscriptionsRevision();

    /** The stored subscription definitions, by key. */
    List<StoredSubscription> subscriptions();

    /**
     * A subscription definition as stored.
     *
     * @param key its key
     * @param document what was saved
     * @param revision increases with every save in the journal, so a reader sees what changed
     */
    record StoredSubscription(String key, String document, long revision) {}
}
