package dev.keel.spi;

import java.time.Duration;
import java.util.Collection;
import java.util.Map;

/**
 * Lane leases, for engines several instances share: each lane is delivered by one instance at a time.
 * Leases expire by the database's clock unless renewed; each grant carries a fencing token that the
 * engine checks on every {@link Journal#commit}, so an instance that lost a lane (paused, cut off) cannot
 * write for it any more.
 */
public interface LaneLeases {

    /**
     * The leases an instance holds after a heartbeat.
     *
     * @param lanes each lane held, with its fencing token
     * @param fairShare how many lanes this instance should hold, given the live instances
     */
    record Held(Map<Integer, Long> lanes, int fairShare) {
        public Held {
            lanes = Map.copyOf(lanes);
        }
    }

    /**
     * Announces the instance as live, renews its leases for {@code ttl}, and claims free or expired lanes
     * up to its fair share.
     */
    Held heartbeat(String instance, Duration ttl);

    /** Gives lanes up at once, so another instance can take them without waiting for expiry. */
    void release(String instance, Collection<Integer> lanes);
}
