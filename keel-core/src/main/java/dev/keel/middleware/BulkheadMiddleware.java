package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Middleware;
import io.github.resilience4j.bulkhead.Bulkhead;
import java.time.Duration;
import java.util.Objects;

/** Delivery through a Resilience4j bulkhead; when it is full the lane pauses instead of failing. */
public final class BulkheadMiddleware implements Middleware {
    private final Bulkhead bulkhead;

    public BulkheadMiddleware(Bulkhead bulkhead) {
        this.bulkhead = Objects.requireNonNull(bulkhead, "bulkhead");
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        if (!bulkhead.tryAcquirePermission()) {
            Duration wait = bulkhead.getBulkheadConfig().getMaxWaitDuration();
            throw new DeliveryPausedException(
                    "bulkhead '" + bulkhead.getName() + "' is full ("
                            + bulkhead.getBulkheadConfig().getMaxConcurrentCalls() + " in flight)",
                    wait.isZero() ? Duration.ofMillis(10) : wait);
        }
        try {
            chain.proceed(delivery);
        } finally {
            bulkhead.onComplete();
        }
    }
}
