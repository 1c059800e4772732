package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.DeliveryPausedException;
import dev.keel.Middleware;
import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** Bounds deliveries in flight, over all lanes or per partition key, with a queue timeout. */
public final class ConcurrencyLimit implements Middleware {
    private final int max;
    private final Duration queueTimeout;
    private final Semaphore global;
    private final ConcurrentHashMap<String, Slot> perKey;

    private static final class Slot {
        final Semaphore permits;
        int users;

        Slot(int max) {
            permits = new Semaphore(max, true);
        }
    }

    private ConcurrencyLimit(int max, Duration queueTimeout, boolean byKey) {
        if (max < 1) {
            throw new IllegalArgumentException("max in flight must be at least 1 but was " + max);
        }
        if (queueTimeout == null || queueTimeout.isNegative()) {
            throw new IllegalArgumentException("queueTimeout must be zero or positive but was " + queueTimeout);
        }
        this.max = max;
        this.queueTimeout = queueTimeout;
        this.global = byKey ? null : new Semaphore(max, true);
        this.perKey = byKey ? new ConcurrentHashMap<>() : null;
    }

    public static ConcurrencyLimit global(int max, Duration queueTimeout) {
        return new ConcurrencyLimit(max, queueTimeout, false);
    }

    public static ConcurrencyLimit perKey(int max, Duration queueTimeout) {
        return new ConcurrencyLimit(max, queueTimeout, true);
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        if (global != null) {
            acquire(global, "subscription '" + delivery.subscription() + "'");
            try {
                chain.proceed(delivery);
            } finally {
                global.release();
            }
            return;
        }
        String key = delivery.event().orderingKey();
        Slot slot = perKey.compute(key, (k, s) -> {
            Slot made = s == null ? new Slot(max) : s;
            made.users++;
            return made;
        });
        try {
            acquire(slot.permits, "key '" + key + "' of subscription '" + delivery.subscription() + "'");
            try {
                chain.proceed(delivery);
            } finally {
                slot.permits.release();
            }
        } finally {
            perKey.computeIfPresent(key, (k, s) -> --s.users == 0 ? null : s);
        }
    }

    private void acquire(Semaphore permits, String what) throws InterruptedException {
        if (!permits.tryAcquire(queueTimeout.toNanos(), TimeUnit.NANOSECONDS)) {
            throw new DeliveryPausedException(
                    "no delivery slot for " + what + " within " + queueTimeout.toMillis() + " ms (" + max
                            + " in flight)",
                    queueTimeout.isZero() ? Duration.ofMillis(10) : queueTimeout);
        }
    }
}
