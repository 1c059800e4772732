package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.Middleware;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import java.time.Duration;

/** Quick retries inside one delivery attempt, on Resilience4j's {@link Retry}. */
public final class InProcessRetry implements Middleware {
    private final Retry retry;

    public InProcessRetry(int maxTries, Duration wait) {
        if (maxTries < 1) {
            throw new IllegalArgumentException("maxTries must be at least 1 but was " + maxTries);
        }
        if (wait == null || wait.isNegative()) {
            throw new IllegalArgumentException("wait must be zero or positive but was " + wait);
        }
        this.retry = Retry.of(
                "keel-in-process",
                RetryConfig.custom()
                        .maxAttempts(maxTries)
                        .waitDuration(wait)
                        .retryOnException(e -> !(e instanceof dev.keel.PermanentFailureException)
                                && !(e instanceof dev.keel.DeliveryPausedException)
                                && !(e instanceof InterruptedException))
                        .build());
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        try {
            retry.executeCheckedSupplier(() -> {
                chain.proceed(delivery);
                return null;
            });
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
