package dev.keel.internal.intake;

import dev.keel.ChainBudgetExceededException;
import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.IntakeFullException;
import dev.keel.InvalidEventException;
import dev.keel.KeelClosedException;
import dev.keel.Lanes;
import dev.keel.LoopDetectedException;
import dev.keel.PayloadTooLargeException;
import dev.keel.internal.lanes.DeliveryScope;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.spi.Append;
import dev.keel.spi.LogRecord;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import java.util.function.IntToLongFunction;

/**
 * Everything an event goes through before the journal: causation from the delivery being handled on this
 * thread, the depth and size limits, the lane and the dedup key, and backpressure. Called on the emitting
 * thread; it holds only its settings and two counters.
 */
public final class Intake {
    /** The first pause of an emit waiting for room; each next one is twice as long, up to the last. */
    static final long FIRST_PAUSE_NANOS = 50_000;

    static final long LAST_PAUSE_NANOS = 1_000_000;

    private final int lanes;
    private final Clock clock;
    private final PayloadCodec codec;
    private final Telemetry telemetry;
    private final DeliveryScope scope;
    private final long maxPayloadBytes;
    private final int maxDepth;
    private final long highWaterMark;
    private final Duration emitWait;
    private final Duration dedupWindow;
    /** The time a causation chain may take from its root's emit; null for no limit. */
    private final Duration chainBudget;

    private final LongAdder rejected = new LongAdder();

    /**
     * @param maxPayloadBytes 0 for no limit
     * @param highWaterMark 0 for no backpressure
     */
    public Intake(
            int lanes,
            Clock clock,
            PayloadCodec codec,
            Telemetry telemetry,
            DeliveryScope scope,
            long maxPayloadBytes,
            int maxDepth,
            long highWaterMark,
            Duration emitWait,
            Duration dedupWindow,
            Duration chainBudget) {
        this.chainBudget = chainBudget;
        this.lanes = lanes;
        this.clock = clock;
        this.codec = codec;
        this.telemetry = telemetry;
        this.scope = scope;
        this.maxPayloadBytes = maxPayloadBytes;
        this.maxDepth = maxDepth;
        this.highWaterMark = highWaterMark;
        this.emitWait = emitWait;
        this.dedupWindow = dedupWindow;
    }

    private static Instant earlier(Instant a, Instant b) {
        if (a == null) {
            return b;
        }
        return b == null || a.isBefore(b) ? a : b;
    }

    /** The lane of an event. */
    public int laneOf(Event<?> e) {
        return Lanes.of(e.orderingKey(), lanes);
    }

    /**
     * Adds causation from the delivery being handled on this thread and checks the limits.
     *
     * @throws LoopDetectedException past the causation depth limit
     * @throws PayloadTooLargeException past the payload limit
     */
    public Event<?> prepare(Event<?> e) {
        if (LogRecord.UNREADABLE_TYPE.equals(e.type())) {
            reject("invalid");
            throw new InvalidEventException("event type '" + LogRecord.UNREADABLE_TYPE
                    + "' is reserved for records a store cannot read (every subscription dead-letters them);"
                    + " choose another type");
        }
        Delivery<?> cause = scope.current();
        if (cause != null && e.causationId() == null) {
            Event<?> c = cause.event();
            int depth = c.depth() + 1;
            if (depth > maxDepth) {
                reject("loop");
                throw new LoopDetectedException(e.type(), depth, maxDepth, c.id());
            }
            e = e.toBuilder()
                    .causedBy(c)
                    // A reprocessed dead letter runs whatever its chain's budget; what it causes starts a new chain.
                    .deadline(cause.replayCount() > 0 ? e.deadline() : earlier(e.deadline(), c.deadline()))
                    .build();
        } else if (e.depth() > maxDepth) {
            reject("loop");
            throw new LoopDetectedException(e.type(), e.depth(), maxDepth, e.causationId());
        }
        if (cause != null
                && e.causationId() != null
                && cause.replayCount() == 0
                && cause.event().deadline() != null) {
            // Caused, with a causation of the handler's own choosing: still within its cause's chain.
            e = e.toBuilder()
                    .deadline(earlier(e.deadline(), cause.event().deadline()))
                    .build();
        }
        if (e.deadline() == null
                && chainBudget != null
                && (cause == null ? e.causationId() == null : cause.replayCount() > 0)) {
            // A chain's root: its budget starts when it may first be delivered.
            Instant now = clock.instant();
            Instant from = e.deliverAt() != null && e.deliverAt().isAfter(now) ? e.deliverAt() : now;
            e = e.toBuilder().deadline(from.plus(chainBudget)).build();
        } else if (e.deadline() != null
                && (clock.instant().isAfter(e.deadline())
                        || (e.deliverAt() != null && e.deliverAt().isAfter(e.deadline())))) {
            reject("chain_budget");
            throw new ChainBudgetExceededException(
                    "event of type '" + e.type() + "'"
                            + (e.causationId() != null ? " caused by '" + e.causationId() + "'" : "") + " is refused",
                    e.deadline());
        }
        try {
            e = codec.encode(e);
        } catch (InvalidEventException x) {
            reject("invalid");
            throw x;
        }
        if (maxPayloadBytes > 0 && e.data() != null) {
            long size = codec.sizeOf(e.data(), maxPayloadBytes);
            if (size > maxPayloadBytes) {
                reject("payload_too_large");
                throw new PayloadTooLargeException(e.type(), size, maxPayloadBytes);
            }
        }
        return e;
    }

    /**
     * The append of a prepared event. Its dedup key is the idempotency key or, for an event whose producer
     * named it ({@code producerIdentified}), its source and id; both within its tenant.
     */
    public Append append(Event<?> e, int lane, boolean producerIdentified) {
        // Within a tenant: one tenant's keys never make another's events duplicates.
        // Length-prefixed, so no tenant and key can spell another pair (and no byte a database refuses).
        // "-" without one: after "k:" or "s:", a digit means a tenant follows, a dash that none does.
        String tenant = e.tenant() == null ? "-:" : e.tenant().length() + ":" + e.tenant() + ":";
        String dedupKey = e.idempotencyKey() != null
                ? "k:" + tenant + e.idempotencyKey()
                : producerIdentified ? "s:" + tenant + e.source() + " " + e.id() : null;
        return new Append(
                lane, e, dedupKey, dedupKey == null ? null : clock.instant().plus(dedupWindow));
    }

    /**
     * Backpressure: waits while the lane holds more undelivered events than the high-water mark, then fails.
     * Emits from handlers are not held: they are bounded by the causation depth, and holding them could wait
     * on themselves.
     *
     * @param backlog the lane's undelivered events
     * @param wake wakes the lane's workers while waiting
     * @param open throws {@link KeelClosedException} once the runtime closes
     * @throws IntakeFullException when the backlog stays over the mark for the emit wait, or the caller is
     *     interrupted while it waits (its interrupt flag stays set)
     */
    public void awaitRoom(int lane, IntToLongFunction backlog, IntConsumer wake, Runnable open) {
        if (highWaterMark <= 0 || scope.current() != null) {
            return;
        }
        long now = backlog.applyAsLong(lane);
        if (now < highWaterMark) {
            return;
        }
        long start = System.nanoTime();
        long deadline = start + emitWait.toNanos();
        long pause = FIRST_PAUSE_NANOS;
        while (now >= highWaterMark) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || Thread.currentThread().isInterrupted()) {
                // Out of time, or the caller was interrupted (parking would return at once; the flag stays set).
                reject("intake_full");
                throw new IntakeFullException(lane, now, highWaterMark, Duration.ofNanos(System.nanoTime() - start));
            }
            open.run();
            wake.accept(lane);
            // Short pauses first, for a backlog about to drop; then longer ones, so that many waiting producers
            // do not take the cores the lane's workers need to drain it.
            LockSupport.parkNanos(Math.min(pause, left));
            pause = Math.min(pause * 2, LAST_PAUSE_NANOS);
            now = backlog.applyAsLong(lane);
        }
        open.run(); // room at last, but the runtime may have begun to close while this emit waited
    }

    /** Counts a refused emit by reason. */
    public void reject(String reason) {
        rejected.increment();
        telemetry.rejected(reason);
    }

    /** Emits refused so far. */
    public long rejected() {
        return rejected.sum();
    }
}
