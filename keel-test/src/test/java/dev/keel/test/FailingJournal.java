package dev.keel.test;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A journal that fails every operation while it is down, as a database that vanishes and comes back would.
 * Tests extend it to watch or change one operation.
 */
class FailingJournal implements Journal {
    private final Journal store;
    final AtomicBoolean down = new AtomicBoolean();

    FailingJournal(Journal store) {
        this.store = store;
    }

    private void check() {
        if (down.get()) {
            throw new JournalException("the journal is down (a test)");
        }
    }

    @Override
    public void open(int lanes) {
        check();
        store.open(lanes);
    }

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        check();
        return store.append(batch);
    }

    @Override
    public long head(int lane) {
        return store.head(lane); // heads are cached by real engines and stay readable
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        check();
        return store.read(lane, after, max);
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        check();
        return store.cursor(subscription, lane);
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        check();
        return store.openCursor(subscription, lane, startAt);
    }

    @Override
    public void commit(Commit commit) {
        check();
        store.commit(commit);
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        check();
        return store.pending(subscription, lane);
    }

    @Override
    public Tally tally(String subscription) {
        check();
        return store.tally(subscription);
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        check();
        store.prune(lane, passed, appendedBefore, now);
    }

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        check();
        return store.deadLetters(query);
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        check();
        return store.deadLetter(id);
    }

    @Override
    public boolean updateDeadLetter(DeadLetter deadLetter) {
        check();
        return store.updateDeadLetter(deadLetter);
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        check();
        return store.deleteDeadLetter(id);
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        check();
        return store.purgeDeadLetters(before);
    }

    @Override
    public long countDeadLetters(String subscription) {
        check();
        return store.countDeadLetters(subscription);
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        check();
        return store.requestReprocess(deadLetterId, at);
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        check();
        return store.reprocessOrders(max);
    }

    @Override
    public void pause(PauseKey key, Instant until) {
        check();
        store.pause(key, until);
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        check();
        return store.pauses(now);
    }

    @Override
    public long saveSubscription(String key, String document) {
        check();
        return store.saveSubscription(key, document);
    }

    @Override
    public long deleteSubscription(String key) {
        check();
        return store.deleteSubscription(key);
    }

    @Override
    public List<StoredSubscription> subscriptions() {
        check();
        return store.subscriptions();
    }

    @Override
    public long subscriptionsRevision() {
        check();
        return store.subscriptionsRevision();
    }

    @Override
    public java.time.Duration pruneInterval() {
        return store.pruneInterval();
    }

    @Override
    public boolean durable() {
        return store.durable();
    }

    @Override
    public void close() {
        store.close();
    }
}
