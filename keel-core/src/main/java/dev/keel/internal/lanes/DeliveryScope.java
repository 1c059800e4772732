package dev.keel.internal.lanes;

import dev.keel.Delivery;

/**
 * The delivery a thread is handling, so that events a handler emits carry their causation (and are not held
 * back by the intake's backpressure, which could wait on itself). One per runtime; each thread sees its own.
 */
public final class DeliveryScope {
    private final ThreadLocal<Delivery<?>[]> current = ThreadLocal.withInitial(() -> new Delivery<?>[1]);

    /** The delivery being handled on this thread, or null. */
    public Delivery<?> current() {
        return current.get()[0];
    }

    /** The slot of this thread, for a runner that sets and restores it around each handler call. */
    Delivery<?>[] slot() {
        return current.get();
    }
}
