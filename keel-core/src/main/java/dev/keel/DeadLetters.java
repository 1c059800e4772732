package dev.keel;

import dev.keel.internal.lanes.SubscriptionRuntime;
import dev.keel.spi.DeadLetterStore;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.IntPredicate;

/**
 * The dead-letter queue of a runtime: list with filters, inspect with the full error history, reprocess
 * one or many (with a dry run), delete and purge. Reprocessing sends an event back to the subscription
 * that failed it, as a fresh series of attempts in its key's order; each dead letter counts its replays,
 * and one replayed {@link Keel.Builder#maxReplays(int)} times becomes poison and is not replayed again.
 *
 * <p>A reprocess request is stored in the journal first, then carried out by the instance that holds the
 * event's lane (this one, at once, when it does): it survives a restart, and works whichever instance is
 * asked.
 */
public final class DeadLetters {
    private final DeadLetterStore store;
    private final Clock clock;
    private final int maxReplays;
    private final Runnable recount;
    private final Function<String, SubscriptionRuntime> subscriptions;
    private final IntPredicate holds;

    DeadLetters(
            DeadLetterStore store,
            Clock clock,
            int maxReplays,
            Runnable recount,
            Function<String, SubscriptionRuntime> subscriptions,
            IntPredicate holds) {
        this.store = store;
        this.clock = clock;
        this.maxReplays = maxReplays;
        this.recount = recount;
        this.subscriptions = subscriptions;
        this.holds = holds;
    }

    /** Dead letters meeting the query, in its order (oldest first unless it asks for newest first). */
    public List<DeadLetter> list(DeadLetterQuery query) {
        return store.deadLetters(Objects.requireNonNull(query, "query"));
    }

    /** One dead letter with its event and error history. */
    public Optional<DeadLetter> get(String id) {
        return store.deadLetter(id);
    }

    /** How many dead letters a subscription holds (all subscriptions when null). */
    public long count(String subscription) {
        return store.countDeadLetters(subscription);
    }

    /**
     * Sends one dead letter back to its subscription. The request is stored at once; the event is redelivered
     * on the next pass of the instance holding its lane (at once when that is this started runtime; on the
     * next {@link Keel#process()} when it is not started).
     *
     * @throws DeadLetterNotFoundException when there is no such dead letter
     * @throws ReplayLimitExceededException when it is poison or reached the replay limit
     * @throws SubscriptionException when its subscription is not registered
     */
    public DeadLetter reprocess(String id) {
        DeadLetter d = get(id).orElseThrow(() -> new DeadLetterNotFoundException(id));
        if (!replayable(d, true)) {
            throw new ReplayLimitExceededException(d, maxReplays);
        }
        send(d);
        return d;
    }

    /** Sends back every dead letter meeting the request's criteria, up to its limit, in pages. */
    public ReprocessResult reprocess(ReprocessRequest request) {
        DeadLetterQuery page = request.query();
        int matched = 0;
        List<String> sent = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        while (sent.size() < request.limit()) {
            List<DeadLetter> found = list(page);
            if (found.isEmpty()) {
                break;
            }
            for (DeadLetter d : found) {
                if (sent.size() >= request.limit()) {
                    break;
                }
                matched++;
                if (!replayable(d, !request.dryRun())) {
                    skipped.add(d.id());
                    continue;
                }
                if (!request.dryRun()) {
                    send(d);
                }
                sent.add(d.id());
            }
            page = page.withAfterId(found.getLast().id());
        }
        return new ReprocessResult(matched, sent, skipped, request.dryRun());
    }

    /** Marks a dead letter as poison: it is never reprocessed, by id or by criteria. */
    public DeadLetter markPoison(String id) {
        DeadLetter d = get(id).orElseThrow(() -> new DeadLetterNotFoundException(id));
        DeadLetter poison = d.asPoison();
        store.updateDeadLetter(poison);
        return poison;
    }

    /** Deletes one dead letter; false when there was none. */
    public boolean delete(String id) {
        boolean deleted = store.deleteDeadLetter(id);
        if (deleted) {
            recount.run();
        }
        return deleted;
    }

    /** Deletes the dead letters older than the age; returns how many. */
    public int purge(Duration olderThan) {
        if (olderThan == null || olderThan.isNegative()) {
            throw new IllegalArgumentException("olderThan must be zero or positive but was " + olderThan);
        }
        int purged = store.purgeDeadLetters(clock.instant().minus(olderThan));
        if (purged > 0) {
            recount.run();
        }
        return purged;
    }

    /** Whether it may be replayed; one at the replay limit is marked poison unless this is a dry run. */
    private boolean replayable(DeadLetter d, boolean markPoison) {
        if (d.poison()) {
            return false;
        }
        if (d.replayCount() >= maxReplays) {
            if (markPoison) {
                store.updateDeadLetter(d.asPoison());
            }
            return false;
        }
        return true;
    }

    private void send(DeadLetter d) {
        SubscriptionRuntime s = subscriptions.apply(d.subscription());
        if (s == null) {
            throw new SubscriptionException("dead letter '" + d.id() + "' belongs to subscription '" + d.subscription()
                    + "', which is not registered; subscribe it again before reprocessing");
        }
        if (!store.requestReprocess(d.id(), clock.instant())) {
            throw new DeadLetterNotFoundException(d.id());
        }
        if (holds.test(d.lane())) {
            s.worker(d.lane()).reprocess(d.id());
        }
    }
}
