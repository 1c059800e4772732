package dev.keel;

/**
 * Tells the instances sharing a journal of each other's appends as they happen, so that a lane's readers on every
 * instance (its subscription runners, the server's event streams) wake at once instead of at their next poll.
 * Only a hint: a notice that is lost costs a poll interval, never an event. An engine told of appends by itself
 * (Redis) needs none; for the others, {@code keel-redis} has one on Redis's publish and subscribe.
 *
 * <p>{@link #published} is called on the thread that completes an append and must return at once; {@link #watch}'s
 * listener likewise. Set on {@link Keel.Builder#appendNotices}; the runtime closes it.
 */
public interface AppendNotices extends AutoCloseable {

    /** This runtime stored an event at the lane's sequence: tell the other instances. */
    void published(int lane, long sequence);

    /**
     * Calls {@code grew} whenever another instance says it appended to a lane, until the returned handle is closed.
     * The sequence it names is a hint: the runtime asks the journal, and never takes a notice's word for what the
     * journal holds.
     */
    AutoCloseable watch(Listener grew);

    /** Hears of another instance's append. */
    @FunctionalInterface
    interface Listener {
        /** Another instance says it stored an event at the lane's sequence. */
        void appended(int lane, long sequence);
    }

    /**
     * Whether notices are arriving now (connected, and this instance hears its own test notices): readers poll as
     * usual while they are not.
     */
    default boolean live() {
        return true;
    }

    /** Stops telling and listening. */
    @Override
    void close();
}
