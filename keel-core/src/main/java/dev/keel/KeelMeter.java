package dev.keel;

/**
 * Every meter Keel registers, named once. In Prometheus format the dots become underscores and counters
 * gain {@code _total}: {@code keel.deliveries} is scraped as {@code keel_deliveries_total}.
 */
public enum KeelMeter {
    /** Counter: events accepted by the journal. Tags: type. */
    EVENTS_EMITTED("keel.events.emitted"),
    /** Counter: emits refused. Tags: reason (invalid, payload_too_large, loop, intake_full, closed, journal). */
    EVENTS_REJECTED("keel.events.rejected"),
    /** Counter: delivery attempts. Tags: subscription, type, outcome (success, retry, dead_letter, paused). */
    DELIVERIES("keel.deliveries"),
    /** Timer: handler time per attempt. Tags: subscription, type. */
    DELIVERY_DURATION("keel.delivery.duration"),
    /** Gauge: events appended to a lane that a subscription has not passed yet. Tags: subscription, lane. */
    LANE_LAG("keel.lane.lag"),
    /** Gauge: deliveries waiting for a retry or their time, and parked ones. Tags: subscription, state. */
    PENDING("keel.pending"),
    /** Gauge: dead letters held. Tags: subscription. */
    DEAD_LETTERS("keel.dead.letters"),
    /** Counter: attempts that reached 80% of their timeout. Tags: subscription. */
    TIMEOUT_WARNINGS("keel.delivery.timeout.warnings"),
    /** Gauge: circuit state, 0 closed, 1 open, 2 half-open, 3 other. Tags: subscription, breaker. */
    CIRCUIT_STATE("keel.circuit.state");

    private final String meterName;

    KeelMeter(String meterName) {
        this.meterName = meterName;
    }

    /** The Micrometer meter name. */
    public String meterName() {
        return meterName;
    }
}
