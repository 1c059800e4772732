package dev.keel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The dead-letter queue of a runtime: list with filters, inspect with the full error history, reprocess
 * one or many (with a dry run), delete and purge. Reprocessing sends an event back to the subscription
 * that failed it, as a fresh series of attempts in its key's order; each dead letter counts its replays,
 * and one replayed {@link Keel.Builder#maxReplays(int)} times becomes poison and is not replayed again.
 */
public final class DeadLetters {
    private final Keel keel;

    DeadLetters(Keel keel) {
        this.keel = keel;
    }

    /** Dead letters meeting the query, oldest first. */
    public List<DeadLetter> list(DeadLetterQuery query) {
        return keel.journal().deadLetters(Objects.requireNonNull(query, "query"));
    }

    /** One dead letter with its event and error history. */
    public Optional<DeadLetter> get(String id) {
        return keel.journal().deadLetter(id);
    }

    /** How many dead letters a subscription holds (all subscriptions when null). */
    public long count(String subscription) {
        return keel.journal().countDeadLetters(subscription);
    }

    /**
     * Sends one dead letter back to its subscription. The event is redelivered on the subscription's next
     * pass (at once when the runtime is started; on the next {@link Keel#process()} otherwise).
     *
     * @throws DeadLetterNotFoundException when there is no such dead letter
     * @throws ReplayLimitExceededException when it is poison or reached the replay limit
     * @throws SubscriptionException when its subscription is not registered
     */
    public DeadLetter reprocess(String id) {
        DeadLetter d = get(id).orElseThrow(() -> new DeadLetterNotFoundException(id));
        if (!replayable(d, true)) {
            throw new ReplayLimitExceededException(d, keel.maxReplays());
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
        keel.journal().updateDeadLetter(poison);
        return poison;
    }

    /** Deletes one dead letter; false when there was none. */
    public boolean delete(String id) {
        boolean deleted = keel.journal().deleteDeadLetter(id);
        if (deleted) {
            keel.refreshDeadLetterCounts();
        }
        return deleted;
    }

    /** Deletes the dead letters older than the age; returns how many. */
    public int purge(Duration olderThan) {
        if (olderThan == null || olderThan.isNegative()) {
            throw new IllegalArgumentException("olderThan must be zero or positive but was " + olderThan);
        }
        int purged = keel.journal().purgeDeadLetters(keel.clock().instant().minus(olderThan));
        if (purged > 0) {
            keel.refreshDeadLetterCounts();
        }
        return purged;
    }

    /** Whether it may be replayed; one at the replay limit is marked poison unless this is a dry run. */
    private boolean replayable(DeadLetter d, boolean markPoison) {
        if (d.poison()) {
            return false;
        }
        if (d.replayCount() >= keel.maxReplays()) {
            if (markPoison) {
                keel.journal().updateDeadLetter(d.asPoison());
            }
            return false;
        }
        return true;
    }

    private void send(DeadLetter d) {
        SubscriptionState s = keel.subscriptionState(d.subscription());
        if (s == null) {
            throw new SubscriptionException("dead letter '" + d.id() + "' belongs to subscription '" + d.subscription()
                    + "', which is not registered; subscribe it again before reprocessing");
        }
        LaneWorker w = s.workers[d.lane()];
        w.reprocessRequests.add(d);
        keel.wake(w);
    }
}
