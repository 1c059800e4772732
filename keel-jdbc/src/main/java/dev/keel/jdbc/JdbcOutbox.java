package dev.keel.jdbc;

import dev.keel.ComponentHealth;
import dev.keel.Event;
import dev.keel.IntakeFullException;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import io.opentelemetry.api.trace.Span;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transactional outbox: events written in the application's own database transaction, and moved to the log
 * by a relay once that transaction has committed. A rolled-back transaction leaves no event; a committed one
 * becomes exactly one log event per row, with the event's own id, even when the process dies while relaying or
 * several instances relay at once.
 *
 * <p>Get it with {@link JdbcJournal#outbox(Keel)} from a journal built with
 * {@link JdbcJournal.Builder#shareDatabase()} on the application's database. {@link #write} inserts rows into
 * {@code keel_outbox} on the caller's connection; {@link #start()} starts the relay thread ({@code
 * keel-outbox-relay}), which polls every {@link #pollInterval(Duration) poll interval} and at once when
 * {@link #wake() woken} (call it after the application's transaction commits). Each move appends a batch of rows
 * as log events and deletes those rows in one transaction of the journal. An event Keel refuses (too large, a
 * loop, invalid), or the database refuses to store (a constraint, a value it cannot hold), is not lost: its row
 * is kept, marked refused with the reason ({@link #refusedRows}), and the relay goes on with the next. Later rows
 * of the same key are not held back by it (per-key order does not survive a refusal).
 *
 * <p>{@link #close()} stops the relay; close the outbox before the runtime. The journal closes it too.
 */
public final class JdbcOutbox implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JdbcOutbox.class);

    /** How often the relay looks for rows when not woken. */
    public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(200);
    /** The relay's first wait after a failure of the database; it doubles up to {@link #MAX_BACKOFF}. */
    public static final Duration FIRST_BACKOFF = Duration.ofSeconds(1);
    /** The relay's longest wait after failures of the database. */
    public static final Duration MAX_BACKOFF = Duration.ofSeconds(30);
    /** The longest {@link #relayNow()} waits for a move of the relay thread to end. */
    public static final Duration RELAY_NOW_WAIT = Duration.ofSeconds(10);
    /** Rows never wait less long than this before health calls the relay stalled; see {@link #health()}. */
    public static final Duration MIN_STALL = Duration.ofSeconds(30);
    /** The name of the outbox's component in health reports. */
    public static final String HEALTH_NAME = "outbox";

    private final Keel keel;
    private final Database db;
    private final OutboxTable table;
    private final OutboxRelay relay;
    /** One move at a time in this process: the relay thread and {@link #relayNow()} never race each other. */
    private final ReentrantLock moving = new ReentrantLock();

    private final AtomicBoolean woken = new AtomicBoolean();
    private volatile Duration pollInterval;
    private volatile Thread thread;
    private volatile boolean closed;
    /** Why the relay's last attempt failed; null when it succeeded. */
    private volatile String lastFailure;
    /** The error that ended the relay thread, if one did. */
    private volatile Throwable died;
    /** The longest relayNow() waits for the relay thread's move (a field for tests). */
    volatile Duration relayNowWait = RELAY_NOW_WAIT;
    /** Run by the relay thread before each move (for tests). */
    volatile Runnable beforeMoveForTests;

    JdbcOutbox(Keel keel, Database db, LogTable log, Duration pollInterval) {
        this.keel = keel;
        this.db = db;
        this.table = new OutboxTable(db);
        this.relay = new OutboxRelay(keel, table, log, db);
        pollInterval(pollInterval);
    }

    /** Events this outbox's relay appended to the log, and its claims another relay won (for tests). */
    long[] relayCountsForTests() {
        return new long[] {relay.moved.sum(), relay.claimsLost.sum()};
    }

    /** Whether the relay thread runs (for tests). */
    boolean relayThreadAlive() {
        Thread t = thread;
        return t != null && t.isAlive();
    }

    /** The runtime this outbox relays through. */
    Keel keel() {
        return keel;
    }

    // ---- writing ----

    /** Writes one event to the outbox in the caller's transaction. See {@link #write(Connection, List)}. */
    public void write(Connection connection, Event<?> event) {
        write(connection, List.of(Objects.requireNonNull(event, "event")));
    }

    /**
     * Inserts the events as outbox rows on the caller's connection, in the caller's transaction: they become log
     * events only if, and once, it commits. This never commits, rolls back or closes the connection. The
     * connection must be to this journal's database.
     *
     * <p>Written from a thread handling a delivery of this runtime, an event without a causation id is caused by
     * that delivery's event, as an emit there is: its causation id, correlation id (the cause's, or the cause's
     * id), tenant (unless it has one) and depth (the cause's plus one) are filled in, so causation chains and loop
     * protection carry across the outbox. The chain's deadline does not: the relay's delay is not the handler's.
     * The trace context of the calling thread's current span is kept with each row, and the relay's producer
     * spans join that trace.
     *
     * <p>Size limits, loop protection and the runtime's other checks apply when the relay publishes the event; an
     * event they refuse is kept as a refused row ({@link #refusedRows}), as is one the database refuses to store
     * in the log.
     *
     * @throws InvalidEventException when an event's data cannot be written as JSON, its type is reserved, or its
     *     id holds U+0000, which the log cannot store (nothing is written)
     * @throws JournalException when the database refuses the rows (the SQL failure is its cause); the caller's
     *     transaction is then for the caller to roll back
     */
    public void write(Connection connection, List<? extends Event<?>> events) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(events, "events");
        if (events.isEmpty()) {
            return;
        }
        Optional<Event<?>> cause = keel.eventBeingHandled();
        Span current = Span.current();
        String writerTrace = current == null ? null : Telemetry.traceparent(current);
        List<byte[]> envelopes = new ArrayList<>(events.size());
        List<String> traces = new ArrayList<>(events.size());
        for (Event<?> e : events) {
            Objects.requireNonNull(e, "event in list");
            requireStorable(e);
            Event<?> ready = cause.isPresent() && e.causationId() == null
                    ? e.toBuilder().causedBy(cause.get()).build()
                    : e;
            try {
                envelopes.add(db.codec.write(ready));
            } catch (JournalException x) {
                InvalidEventException invalid = new InvalidEventException("event '" + e.id() + "' of type '"
                        + e.type() + "' cannot be written to the outbox: its data does not serialize as JSON ("
                        + Database.rootMessage(x) + "); nothing was written");
                invalid.initCause(x);
                throw invalid;
            }
            // The writer's span, else the event's own context if it is one (the column holds a traceparent only).
            traces.add(
                    writerTrace != null
                            ? writerTrace
                            : ready.traceparent() != null && Telemetry.parse(ready.traceparent()) != null
                                    ? ready.traceparent()
                                    : null);
        }
        try {
            table.insert(connection, envelopes, traces, db.clock.millis());
        } catch (SQLException x) {
            throw db.failure("write " + events.size() + " events to the outbox", x);
        }
    }

    /**
     * Refuses, at once, an event the runtime or the log would refuse whenever the relay tried it: a reserved type,
     * an id holding U+0000 (PostgreSQL's text columns cannot store it; refused on SQLite too, so that an outbox
     * behaves the same on both).
     */
    static void requireStorable(Event<?> e) {
        if (LogRecord.UNREADABLE_TYPE.equals(e.type())) {
            throw new InvalidEventException("event type '" + LogRecord.UNREADABLE_TYPE
                    + "' is reserved for records a store cannot read; choose another type");
        }
        if (e.id().indexOf('\u0000') >= 0) {
            throw new InvalidEventException("event id '" + e.id().replace("\u0000", "\\u0000") + "' of type '"
                    + e.type() + "' holds the character U+0000, which the log cannot store; nothing was written");
        }
    }

    /** Inserts events as they are, without the checks of {@link #write} (for tests: rows the log refuses). */
    void insertUncheckedForTests(Connection connection, List<? extends Event<?>> events) throws SQLException {
        List<byte[]> envelopes = new ArrayList<>();
        List<String> traces = new ArrayList<>();
        for (Event<?> e : events) {
            envelopes.add(db.codec.write(e));
            traces.add(null);
        }
        table.insert(connection, envelopes, traces, db.clock.millis());
    }

    // ---- relaying ----

    /**
     * How often the relay looks for rows when it is not woken: the longest an event waits after its transaction
     * commits, when nobody calls {@link #wake()}. Takes effect from the relay's next wait.
     */
    public JdbcOutbox pollInterval(Duration value) {
        Objects.requireNonNull(value, "pollInterval");
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("pollInterval must be positive but was " + value);
        }
        this.pollInterval = value;
        return this;
    }

    /** Starts the relay thread, {@code keel-outbox-relay}; once. */
    public synchronized void start() {
        if (closed) {
            throw new IllegalStateException("the outbox is closed");
        }
        if (thread == null) {
            thread = Thread.ofPlatform().daemon().name("keel-outbox-relay").start(this::run);
        }
    }

    /**
     * Makes the relay look for rows now instead of at its next poll: call it after a transaction that wrote to the
     * outbox has committed. Does nothing before {@link #start()}.
     */
    public void wake() {
        Thread t = thread;
        if (t != null) {
            woken.set(true);
            LockSupport.unpark(t);
        }
    }

    /**
     * Relays every row waiting when it is called, on the calling thread (tests, shutdown), after a move the relay
     * thread may be making; rows written meanwhile are left to the relay. It waits at most {@link #RELAY_NOW_WAIT}
     * for the relay thread's move to end; when that is not enough (a journal that does not answer, say) it moves
     * nothing, logs so and returns 0: the rows wait for the relay, none is lost.
     *
     * @return the events moved to the log by this call
     * @throws JournalException when the database fails; what was moved stays moved, the rest waits
     * @throws KeelClosedException when the runtime is closed
     */
    public long relayNow() {
        try {
            Duration wait = relayNowWait;
            if (!moving.tryLock(wait.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn(
                        "relayNow() moved nothing: the outbox relay's move did not end within {}; the rows wait for"
                                + " the relay",
                        wait);
                return 0;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while waiting to relay the outbox", e);
        }
        try {
            return relay.relayAll(table.lastId(), () -> false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while relaying the outbox", e);
        } finally {
            moving.unlock();
        }
    }

    private void run() {
        Duration backoff = null;
        while (!closed) {
            try {
                moving.lockInterruptibly();
                try {
                    Runnable hook = beforeMoveForTests;
                    if (hook != null) {
                        hook.run();
                    }
                    relay.relayAll(Long.MAX_VALUE, () -> closed);
                } finally {
                    moving.unlock();
                }
                lastFailure = null;
                backoff = null;
                await(pollInterval, true);
            } catch (InterruptedException e) {
                return; // closing
            } catch (KeelClosedException e) {
                log.debug("the outbox relay stops: the runtime is closed");
                return;
            } catch (JournalException | IntakeFullException e) {
                if (closed || db.isClosed()) {
                    return;
                }
                backoff = backoff == null ? FIRST_BACKOFF : min(backoff.multipliedBy(2), MAX_BACKOFF);
                lastFailure = e.getMessage();
                log.warn("the outbox relay could not move events; trying again in {}: {}", backoff, e.getMessage());
                await(backoff, false);
            } catch (Throwable e) {
                if (e instanceof Error error) {
                    // Nothing sane to go on with (out of memory, a linkage error): recorded for health, and the
                    // thread ends; its rows wait in keel_outbox for the next relay.
                    died = error;
                    lastFailure = e.toString();
                    log.error("the outbox relay stops: it failed with an error; its rows wait in keel_outbox", e);
                    return;
                }
                backoff = backoff == null ? FIRST_BACKOFF : min(backoff.multipliedBy(2), MAX_BACKOFF);
                lastFailure = e.toString();
                log.error("the outbox relay failed unexpectedly; trying again in {}", backoff, e);
                await(backoff, false);
            }
        }
    }

    /** Waits the time, or until closed; a wake ends the wait too when {@code wakeable}. */
    private void await(Duration time, boolean wakeable) {
        long until = System.nanoTime() + time.toNanos();
        while (!closed) {
            if (wakeable && woken.getAndSet(false)) {
                return;
            }
            long left = until - System.nanoTime();
            if (left <= 0) {
                return;
            }
            LockSupport.parkNanos(this, left);
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    /**
     * Stops the relay thread, waiting for a move under way to finish; idempotent. Rows not moved yet stay in the
     * outbox for the next relay. Call it before closing the runtime.
     */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            t = thread;
        }
        if (t == null || t == Thread.currentThread()) {
            return;
        }
        LockSupport.unpark(t);
        try {
            t.join(TimeUnit.SECONDS.toMillis(10));
            if (t.isAlive()) {
                t.interrupt();
                t.join(TimeUnit.SECONDS.toMillis(5));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- what waits, what was refused ----

    /** Rows waiting to be relayed (not refused). One query. */
    public long waiting() {
        return table.counts().waiting();
    }

    /** Rows Keel refused, kept in the outbox. One query. */
    public long refused() {
        return table.counts().refused();
    }

    /** A row Keel refused, kept in {@code keel_outbox} with the reason. */
    public record RefusedRow(
            long row, String eventId, String type, Instant writtenAt, Instant refusedAt, String reason) {}

    /**
     * The rows Keel refused, oldest first, at most {@code max}. A refused row stays until it is deleted from
     * {@code keel_outbox}; setting its {@code refused_at} back to NULL (after raising the limit that refused it,
     * say) makes the relay try it again.
     */
    public List<RefusedRow> refusedRows(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be at least 1 but was " + max);
        }
        List<RefusedRow> rows = new ArrayList<>();
        for (OutboxTable.RefusedRow r : table.refused(max)) {
            String id = null;
            String type = null;
            try {
                Event<Object> e = db.codec.read(r.envelope());
                id = e.id();
                type = e.type();
            } catch (RuntimeException unreadable) {
                // shown without id and type; the reason says why
            }
            rows.add(new RefusedRow(
                    r.id(),
                    id,
                    type,
                    Instant.ofEpochMilli(r.writtenAt()),
                    Instant.ofEpochMilli(r.refusedAt()),
                    r.reason()));
        }
        return rows;
    }

    /**
     * The outbox's health, for {@link Keel.Builder#healthCheck} ({@code outbox::health}): degraded while rows are
     * kept refused, when the relay's last attempt failed, when the relay thread was started and has stopped
     * without the outbox being closed, when the oldest waiting row has waited longer than the larger of {@link
     * #MIN_STALL} and 50 poll intervals (the relay is stalled, or not started), or when the outbox cannot be read;
     * healthy otherwise. One query.
     */
    public ComponentHealth health() {
        String failure = lastFailure;
        OutboxTable.Counts counts;
        try {
            counts = table.counts();
        } catch (JournalException e) {
            return new ComponentHealth(
                    HEALTH_NAME,
                    ComponentHealth.Status.DEGRADED,
                    "the outbox cannot be read (" + e.getMessage() + "); its events wait, none is lost"
                            + (failure == null ? "" : "; the relay's last attempt failed: " + failure),
                    Map.of());
        }
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("waiting", counts.waiting());
        details.put("refused", counts.refused());
        if (counts.waiting() > 0) {
            details.put("oldestWaitingMs", Math.max(0, db.clock.millis() - counts.oldestWaitingAt()));
        }
        Thread t = thread;
        details.put("relaying", t != null && t.isAlive());
        List<String> reasons = new ArrayList<>();
        if (t != null && !closed && !t.isAlive()) {
            Throwable error = died;
            reasons.add("the relay thread has stopped"
                    + (error == null ? "" : " (" + error + ")")
                    + "; its rows wait in keel_outbox until another relay moves them");
        }
        long stall = Math.max(MIN_STALL.toMillis(), pollInterval.toMillis() * 50);
        long oldest = counts.waiting() > 0 ? Math.max(0, db.clock.millis() - counts.oldestWaitingAt()) : 0;
        if (oldest > stall) {
            reasons.add("the oldest waiting row has waited " + oldest + " ms, longer than " + stall
                    + " ms: the relay is stalled or not running");
        }
        if (counts.refused() > 0) {
            reasons.add(counts.refused() + " events Keel refused are kept in keel_outbox (see refusedRows)");
        }
        if (failure != null) {
            reasons.add("the relay's last attempt failed: " + failure);
        }
        return reasons.isEmpty()
                ? ComponentHealth.healthy(HEALTH_NAME, details)
                : new ComponentHealth(
                        HEALTH_NAME, ComponentHealth.Status.DEGRADED, String.join("; ", reasons), details);
    }
}
