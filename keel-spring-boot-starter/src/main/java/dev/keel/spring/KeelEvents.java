package dev.keel.spring;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.KeelException;
import dev.keel.Receipt;
import dev.keel.spring.autoconfigure.KeelOutbox;
import io.micrometer.core.instrument.Counter;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * Emits events from a Spring application, joining its transactions.
 *
 * <ul>
 *   <li><b>In a transaction on the database Keel shares</b> (the default when the application has a DataSource):
 *       the events are written to Keel's outbox table on the transaction's connection, so they commit or roll
 *       back with the business data; once committed, the outbox relay moves them into the log (at once when
 *       woken by the commit, within {@code keel.outbox.poll-interval} otherwise). No dual write.
 *   <li><b>In another transaction</b> (Keel has a database of its own, or the transaction is on another
 *       resource): the events are emitted after the transaction commits, and dropped if it rolls back. A crash
 *       between the commit and the emit loses them, and so does an emit the journal refuses then (logged at
 *       error, counted in {@code keel.events.lost.after.commit}, not thrown into the committed transaction); use
 *       a shared database when that matters.
 *   <li><b>Outside a transaction</b>: emitted at once; the call returns once the journal has stored them.
 * </ul>
 *
 * <p>Invalid events fail the call with Keel's typed exceptions, whichever way they go. Inside a
 * {@code @Transactional} listener that runs in Keel's delivery transaction, emit in that transaction: a call from a
 * nested {@code REQUIRES_NEW} or {@code NOT_SUPPORTED} method fails with {@link IllegalStateException}.
 */
public final class KeelEvents {
    private static final Logger log = LoggerFactory.getLogger(KeelEvents.class);

    private final Keel keel;
    private final KeelOutbox outbox;
    private final Counter lostAfterCommit;

    public KeelEvents(Keel keel, KeelOutbox outbox) {
        this.keel = Objects.requireNonNull(keel, "keel");
        this.outbox = Objects.requireNonNull(outbox, "outbox");
        this.lostAfterCommit = Counter.builder("keel.events.lost.after.commit")
                .description("events emitted after their transaction committed that the journal refused")
                .register(keel.meterRegistry());
    }

    /** Emits an event of the type with the data, ordered by the key (null for none). */
    public void emit(String type, String key, Object data) {
        emit(Event.builder(type, data).key(key).build());
    }

    /** Emits an event of the type with the data and no ordering key. */
    public void emit(String type, Object data) {
        emit(type, null, data);
    }

    /** Emits an event; see the class comment for when it is stored. */
    public void emit(Event<?> event) {
        emitAll(List.of(event));
    }

    /** Emits events in order, all or nothing; see the class comment for when they are stored. */
    public void emitAll(List<? extends Event<?>> events) {
        List<? extends Event<?>> batch = List.copyOf(events);
        outbox.checkDeliveryTransaction();
        if (outbox.joinable()) {
            outbox.write(batch);
        } else if (TransactionSynchronizationManager.isSynchronizationActive()) {
            TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
                @Override
                public void afterCommit() {
                    storeAfterCommit(batch);
                }
            });
        } else {
            store(batch);
        }
    }

    /**
     * The transaction has committed: a failure now cannot undo it, and thrown into the commit it would skip the
     * transaction's other after-commit callbacks and invite the caller to do its work again. So it is reported —
     * logged with the event ids, counted in {@code keel.events.lost.after.commit} — and not thrown.
     */
    private void storeAfterCommit(List<? extends Event<?>> batch) {
        try {
            store(batch);
        } catch (RuntimeException e) {
            lostAfterCommit.increment(batch.size());
            log.error(
                    "events {} were not emitted after their transaction committed, and are lost: {} (share the"
                            + " application's database with Keel for emits that commit with the transaction)",
                    batch.stream().map(Event::id).toList(),
                    e.toString(),
                    e);
        }
    }

    /** Whether an emit on this thread now would commit with the current transaction. */
    public boolean joinsTransaction() {
        return outbox.joinable();
    }

    private List<Receipt> store(List<? extends Event<?>> events) {
        try {
            return keel.emitBatch(events).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof KeelException k) {
                throw k;
            }
            throw e;
        }
    }
}
