package dev.keel;

/** Per thread: the delivery being handled, so events emitted by a handler carry their causation. */
final class DeliveryScope {
    Delivery<?> current;
}
