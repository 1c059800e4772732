package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Middleware;
import io.github.resilience4j.ratelimiter.RateLimiter;
import java.util.Objects;

/** Delivery through a Resilience4j rate limiter; over the rate the lane pauses for a refresh period. */
public final class RateLimitMiddleware implements Middleware {
    private final RateLimiter limiter;

    public RateLimitMiddleware(RateLimiter limiter) {
        this.limiter = Objects.requireNonNull(limiter, "limiter");
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        if (!limiter.acquirePermission()) {
            throw new DeliveryPausedException(
                    "rate limiter '" + limiter.getName() + "' allows "
                            + limiter.getRateLimiterConfig().getLimitForPeriod() + " per "
                            + limiter.getRateLimiterConfig()
                                    .getLimitRefreshPeriod()
                                    .toMillis() + " ms",
                    limiter.getRateLimiterConfig().getLimitRefreshPeriod());
        }
        chain.proceed(delivery);
    }
}
