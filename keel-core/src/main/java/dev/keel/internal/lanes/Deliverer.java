package dev.keel.internal.lanes;

import dev.keel.AttemptError;
import dev.keel.ChainBudgetExceededException;
import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Event;
import dev.keel.PermanentFailureException;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.LogContext;
import dev.keel.internal.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Makes one delivery attempt: converts the data to the handler's type, runs the middleware chain and the
 * handler with the delivery as the thread's causation, with a consumer span and the handler timer, and says
 * how it went. It holds nothing of a lane's state: a handler can never reach the ledger through it.
 */
final class Deliverer {
    private final SubscriptionRuntime sub;
    private final PayloadCodec codec;
    private final Telemetry telemetry;
    private final Class<?> payloadType;
    private final java.time.Clock clock;
    /** The timeout in milliseconds, -1 for none: each delivery's deadline is its start plus it. */
    private final long timeoutMillis;
    /** The worker's view of the delivery running now, for operators' lists. */
    private final AtomicReference<Delivery<?>> showing;

    Deliverer(SubscriptionRuntime sub, LaneContext ctx, AtomicReference<Delivery<?>> showing) {
        this.sub = sub;
        this.codec = ctx.codec();
        this.telemetry = ctx.telemetry();
        this.payloadType = sub.subscription.payloadType();
        this.clock = ctx.clock();
        java.time.Duration timeout = sub.subscription.policy().timeout();
        this.timeoutMillis = timeout == null ? -1 : timeout.toMillis();
        this.showing = showing;
    }

    /**
     * Delivers; never throws but for a {@link VirtualMachineError} other than a stack overflow.
     *
     * @param slot this thread's slot of the runtime's {@link DeliveryScope}, looked up once per pass
     */
    Outcome deliver(
            Event<?> event,
            long sequence,
            int attempt,
            List<AttemptError> errors,
            int replays,
            int lane,
            Delivery<?>[] slot) {
        Event<?> converted;
        try {
            converted = codec.convert(event, payloadType);
        } catch (PermanentFailureException e) {
            return new Outcome.Failure(e);
        }
        Instant chainDeadline = event.deadline();
        if (chainDeadline != null && replays == 0 && clock.instant().isAfter(chainDeadline)) {
            // Its chain is out of time: not started. A reprocessed dead letter runs anyway (replays > 0).
            return new Outcome.Failure(
                    new ChainBudgetExceededException("event '" + event.id() + "' was not delivered", chainDeadline));
        }
        Instant deadline = timeoutMillis < 0 ? null : Instant.ofEpochMilli(clock.millis() + timeoutMillis);
        if (chainDeadline != null && replays == 0 && (deadline == null || chainDeadline.isBefore(deadline))) {
            deadline = chainDeadline;
        }
        Delivery<?> delivery = new Delivery<>(sub.name, converted, attempt, errors, lane, sequence, replays, deadline);
        Span span = telemetry.startConsumer(sub.name, event, attempt);
        Scope traceScope = span == null ? null : span.makeCurrent();
        Delivery<?> outer = slot[0];
        slot[0] = delivery;
        boolean timing = telemetry.metering();
        long start = timing ? System.nanoTime() : 0;
        Outcome outcome;
        showing.lazySet(delivery); // a plain store: operators' lists may see it a little late
        LogContext.Saved logged = null;
        try {
            logged = telemetry.logContext().enter(sub.name, event, span);
            sub.chain.proceed(delivery);
            outcome = Outcome.SUCCESS;
        } catch (DeliveryPausedException e) {
            outcome = new Outcome.Pause(e.retryAfter());
        } catch (StackOverflowError e) {
            outcome = new Outcome.Failure(e);
        } catch (VirtualMachineError e) {
            throw e;
        } catch (Throwable e) {
            outcome = new Outcome.Failure(e);
        } finally {
            // Only its own entry: after a take-over, the new runner's delivery is shown there.
            showing.compareAndSet(delivery, null);
            if (logged != null) {
                telemetry.logContext().exit(logged);
            }
            slot[0] = outer;
            if (span != null) {
                traceScope.close();
            }
        }
        if (span != null) {
            if (outcome instanceof Outcome.Failure f) {
                span.setStatus(StatusCode.ERROR, String.valueOf(f.error().getMessage()));
                span.recordException(f.error());
            }
            span.end();
        }
        if (timing) {
            sub.meters(event.type()).timer().record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        }
        return outcome;
    }
}
