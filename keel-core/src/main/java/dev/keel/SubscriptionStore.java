package dev.keel;

import dev.keel.spi.Coordination.StoredSubscription;
import java.util.List;

/**
 * Subscription definitions kept in the journal, so that every instance sharing it runs the same ones: the
 * server keeps the webhook subscriptions created over HTTP here. The documents are the caller's own format.
 * Get it with {@link Keel#subscriptionStore()}.
 */
public interface SubscriptionStore {

    /**
     * Stores a definition under a key, replacing the one there.
     *
     * @return its revision: higher than every revision saved before, on any instance
     */
    long save(String key, String document);

    /** Removes a definition; returns the revision the removal took, or 0 when there was none. */
    long delete(String key);

    /**
     * The highest revision a save or a removal has taken. Read before {@link #list()}, it tells a definition
     * removed (missing from the list, with a revision up to it) from one saved since.
     */
    long revision();

    /** Every stored definition. */
    List<StoredSubscription> list();
}
