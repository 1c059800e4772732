package dev.keel.internal.lanes;

import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Event;
import dev.keel.PermanentFailureException;
import dev.keel.internal.telemetry.Telemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.context.Scope;
import java.util.concurrent.TimeUnit;

/**
 * Makes one delivery attempt: converts the data to the handler's type, runs the middleware chain and the
 * handler with the delivery as the thread's causation, with a consumer span and the handler timer, and says
 * how it went. It holds nothing of a lane's state: a handler can never reach the ledger through it.
 */
final class Deliverer {
    private final SubscriptionRuntime sub;
    private final LaneContext ctx;
    private final Class<?> payloadType;

    Deliverer(SubscriptionRuntime sub, LaneContext ctx) {
        this.sub = sub;
        this.ctx = ctx;
        this.payloadType = sub.subscription.payloadType();
    }

    /**
     * Delivers; never throws but for a {@link VirtualMachineError} other than a stack overflow.
     */
    Outcome deliver(LaneLedger.Attempt a, int lane) {
        Event<?> converted;
        try {
            converted = ctx.codec().convert(a.event(), payloadType);
        } catch (PermanentFailureException e) {
            return new Outcome.Failure(e);
        }
        Delivery<?> delivery =
                new Delivery<>(sub.name, converted, a.attempt(), a.errors(), lane, a.sequence(), a.replayCount());
        Telemetry telemetry = ctx.telemetry();
        Span span = telemetry.startConsumer(sub.name, a.event(), a.attempt());
        Scope traceScope = span == null ? null : span.makeCurrent();
        Delivery<?>[] slot = ctx.deliveryScope().slot();
        Delivery<?> outer = slot[0];
        slot[0] = delivery;
        boolean timing = telemetry.metering();
        long start = timing ? System.nanoTime() : 0;
        Outcome outcome;
        try {
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
            sub.meters(a.event().type()).timer().record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        }
        return outcome;
    }
}
