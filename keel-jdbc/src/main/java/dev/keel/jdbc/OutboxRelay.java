package dev.keel.jdbc;

import dev.keel.Event;
import dev.keel.IntakeFullException;
import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.Receipt;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.spi.JournalException;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves outbox rows to the log: reads them in id order, publishes each run of rows with one trace context through
 * {@link Keel#emitThrough} under that context, with a {@link OutboxTable.Claim} that deletes exactly those rows in
 * the transaction that appends their events. A run Keel refuses, or the database refuses for what one of its
 * events holds ({@link RequestFault}: a constraint, a value it cannot store), is tried again row by row, and each
 * row refused so is marked refused and kept, with the reason: one poison row never holds the others back. Other
 * failures of the journal, a full intake, an append that does not answer within {@link #APPEND_TIMEOUT} and the
 * runtime's closing are thrown to the caller, which tries again later (or stops); nothing is dropped.
 */
final class OutboxRelay {
    private static final Logger log = LoggerFactory.getLogger(OutboxRelay.class);

    /** The most rows read, and relayed, at once. */
    static final int BATCH = 256;

    /**
     * The longest the relay waits for the journal to answer one move. A move that does not answer by then is
     * treated as failed, to be tried again later; that is safe because the move is one transaction (the append
     * and the delete of its rows): if it commits after all, its rows are gone and are not read again; if it does
     * not, they wait and are moved once later. A second claim of rows an earlier one deleted is refused ({@link
     * OutboxTable.Taken}), so nothing is lost or doubled.
     */
    static final java.time.Duration APPEND_TIMEOUT = java.time.Duration.ofSeconds(30);

    private final Keel keel;
    private final OutboxTable table;
    private final LogTable logTable;
    private final Database db;

    /** Events this relay appended to the log. */
    final java.util.concurrent.atomic.LongAdder moved = new java.util.concurrent.atomic.LongAdder();
    /** Claims refused because another relay took a row first (nothing of them was appended). */
    final java.util.concurrent.atomic.LongAdder claimsLost = new java.util.concurrent.atomic.LongAdder();

    OutboxRelay(Keel keel, OutboxTable table, LogTable logTable, Database db) {
        this.keel = keel;
        this.table = table;
        this.logTable = logTable;
        this.db = db;
    }

    /**
     * Moves every row waiting up to id {@code upTo}, batch after batch, until none waits or {@code stop} says so
     * (checked between batches and runs: a relay that is closing finishes the move it makes and goes no further).
     *
     * @return the events appended to the log
     * @throws JournalException when the database fails (nothing of the failed batch was appended or deleted)
     * @throws IntakeFullException when the runtime's intake stays full
     * @throws KeelClosedException when the runtime is closing
     * @throws InterruptedException when interrupted while waiting for the journal
     */
    long relayAll(long upTo, java.util.function.BooleanSupplier stop) throws InterruptedException {
        long moved = 0;
        while (!stop.getAsBoolean()) {
            List<OutboxTable.Row> rows = table.waiting(BATCH, upTo);
            if (rows.isEmpty()) {
                return moved;
            }
            int from = 0;
            while (from < rows.size() && !stop.getAsBoolean()) {
                int to = from + 1;
                String trace = rows.get(from).traceparent();
                while (to < rows.size() && Objects.equals(rows.get(to).traceparent(), trace)) {
                    to++;
                }
                long n = moveRun(rows.subList(from, to), stop);
                if (n < 0) {
                    break; // another relay took some of these rows: read again
                }
                moved += n;
                from = to;
            }
        }
        return moved;
    }

    /** Moves rows with one trace context; -1 when another relay took some of them (nothing was appended). */
    private long moveRun(List<OutboxTable.Row> rows, java.util.function.BooleanSupplier stop)
            throws InterruptedException {
        List<Event<?>> events = new ArrayList<>(rows.size());
        List<OutboxTable.Row> readable = new ArrayList<>(rows.size());
        for (OutboxTable.Row row : rows) {
            try {
                events.add(db.codec.read(row.envelope()));
                readable.add(row);
            } catch (RuntimeException e) {
                refuse(row.id(), null, "its envelope cannot be read: " + Database.rootMessage(e));
            }
        }
        if (events.isEmpty()) {
            return 0;
        }
        String trace = rows.get(0).traceparent();
        RuntimeException refused = emit(events, ids(readable), trace);
        if (refused == null) {
            return events.size();
        }
        if (refused instanceof OutboxTable.Taken) {
            claimsLost.increment();
            return -1;
        }
        if (events.size() == 1) {
            refuse(readable.get(0).id(), events.get(0), reason(refused));
            return 0;
        }
        // One bad event must not hold the others back: each on its own, in order.
        long moved = 0;
        for (int i = 0; i < events.size(); i++) {
            if (stop.getAsBoolean()) {
                break; // the rest wait for the next relay
            }
            RuntimeException alone =
                    emit(List.of(events.get(i)), new long[] {readable.get(i).id()}, trace);
            if (alone == null) {
                moved++;
            } else if (alone instanceof OutboxTable.Taken) {
                claimsLost.increment();
            } else {
                refuse(readable.get(i).id(), events.get(i), reason(alone));
            }
        }
        return moved;
    }

    /**
     * Appends the events and deletes their rows in one transaction, under the writer's trace context.
     *
     * @return null when appended; {@link OutboxTable.Taken} when another relay took a row; otherwise Keel's
     *     refusal of the events, or the database's refusal of what one of them holds ({@link RequestFault});
     *     nothing was appended
     * @throws JournalException when the journal fails, or does not answer within {@link #APPEND_TIMEOUT}
     */
    private RuntimeException emit(List<Event<?>> events, long[] ids, String traceparent) throws InterruptedException {
        OutboxTable.Claim claim = table.new Claim(ids);
        CompletableFuture<List<Receipt>> appended;
        try (Scope scope = context(traceparent).makeCurrent()) {
            appended = keel.emitThrough(events, appends -> logTable.append(appends, claim));
        } catch (RequestFault e) {
            return e;
        } catch (JournalException | IntakeFullException | KeelClosedException e) {
            throw e;
        } catch (RuntimeException e) {
            return e; // refused before anything was stored: invalid, too large, a loop, past its chain's budget
        }
        try {
            appended.get(APPEND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            moved.add(events.size());
            return null;
        } catch (TimeoutException e) {
            throw new JournalException("the journal did not answer a move of " + events.size() + " outbox rows"
                    + " within " + APPEND_TIMEOUT.toSeconds() + " s; they are tried again later (the move is one"
                    + " transaction: if it commits late its rows are gone, else they wait; none is lost or doubled)");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof OutboxTable.Taken taken) {
                return taken;
            }
            if (cause instanceof RequestFault fault) {
                return fault; // this batch's own: row by row, and the row it belongs to is kept refused
            }
            if (cause instanceof JournalException
                    || cause instanceof IntakeFullException
                    || cause instanceof KeelClosedException) {
                throw (RuntimeException) cause;
            }
            if (cause instanceof RuntimeException r) {
                return r;
            }
            throw new JournalException("relaying outbox rows failed: " + cause, cause);
        }
    }

    private void refuse(long id, Event<?> event, String reason) {
        if (table.refuse(id, reason)) {
            log.warn(
                    "outbox row {}: Keel refused event '{}'{}: {}. The row is kept in keel_outbox, marked refused",
                    id,
                    event == null ? "?" : event.id(),
                    event == null ? "" : " of type '" + event.type() + "'",
                    reason);
        }
    }

    private static String reason(RuntimeException e) {
        return e.getClass().getSimpleName() + ": " + (e.getMessage() == null ? "" : e.getMessage());
    }

    private static long[] ids(List<OutboxTable.Row> rows) {
        long[] ids = new long[rows.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rows.get(i).id();
        }
        return ids;
    }

    /** The context the rows were written under, so that producer spans join the application's trace. */
    private static Context context(String traceparent) {
        SpanContext parent = traceparent == null ? null : Telemetry.parse(traceparent);
        return parent == null ? Context.root() : Context.root().with(Span.wrap(parent));
    }
}
