package dev.keel.spi;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Dead letters, and the durable requests to reprocess them. Dead letters are added and taken back by
 * {@link EventLog#commit} (atomically with the rest of a lane's outcomes); this interface lists, reads,
 * updates and deletes them.
 *
 * <p>A reprocess request is stored first and carried out by whichever instance holds the dead letter's lane,
 * so it survives a restart and works on any instance: a {@link Commit} that takes the dead letter back (lists
 * it in {@link Commit#removedDeadLetters()}) clears its request in the same step, and so does deleting the
 * dead letter.
 */
public interface DeadLetterStore {

    /** Dead letters meeting the query, in the query's order (oldest first unless it asks for newest first). */
    List<DeadLetter> deadLetters(DeadLetterQuery query);

    /** One dead letter by id. */
    Optional<DeadLetter> deadLetter(String id);

    /** Replaces a stored dead letter (to mark it as poison); false when there is none with its id. */
    boolean updateDeadLetter(DeadLetter deadLetter);

    /** Deletes one dead letter, and its reprocess request; false when there was none with that id. */
    boolean deleteDeadLetter(String id);

    /** Deletes the dead letters dead-lettered before the instant, and their requests; returns how many. */
    int purgeDeadLetters(Instant before);

    /** How many dead letters a subscription has (every subscription when null). */
    long countDeadLetters(String subscription);

    /**
     * Stores a request to reprocess a dead letter; asking again for one already requested changes nothing.
     *
     * @return false when there is no such dead letter
     */
    boolean requestReprocess(String deadLetterId, Instant at);

    /** Requests not carried out yet, oldest first, at most {@code max}. */
    List<ReprocessOrder> reprocessOrders(int max);

    /**
     * A stored request to reprocess a dead letter.
     *
     * @param deadLetterId the dead letter
     * @param subscription its subscription
     * @param lane its lane, whose owner carries the request out
     * @param requestedAt when it was asked for
     */
    record ReprocessOrder(String deadLetterId, String subscription, int lane, Instant requestedAt) {}
}
