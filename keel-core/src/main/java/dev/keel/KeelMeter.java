package dev.keel;

/**
 * Every meter Keel registers, named once. In Prometheus format the dots become underscores and counters
 * gain {@code _total}: {@code keel.deliveries} is scraped as {@code keel_deliveries_total}.
 */
public enum KeelMeter {
    /** Counter: events accepted by the journal. Tags: type. */
    EVENTS_EMITTED("keel.events.emitted", "events accepted by the journal"),
    /** Counter: emits refused. Tags: reason (invalid, payload_too_large, loop, intake_full, closed, journal). */
    EVENTS_REJECTED("keel.events.rejected", "emits refused, by reason"),
    /**
     * Timer: from an emit's append call to its durable completion, per emit or per batch (one record for the whole
     * batch). Tags: outcome (stored, failed).
     */
    JOURNAL_APPEND(
            "keel.journal.append", "time from an emit's append call to its durable completion, per emit or batch"),
    /**
     * Timer: {@code POST /v1/events} requests, from the request read to the answer (keel serve). Tags: outcome
     * (accepted, refused: a 4xx answer, failed: a 5xx answer).
     */
    INGEST_REQUESTS("keel.ingest.requests", "POST /v1/events requests by outcome (accepted, refused, failed)"),
    /**
     * Timer: webhook calls of {@code keel serve}, from the request sent to the answer read. Tags: subscription,
     * outcome ({@code 2xx}, {@code 3xx}, {@code 4xx}, {@code 5xx}, {@code timeout}, {@code connect_error},
     * {@code io_error}, {@code interrupted}).
     */
    WEBHOOK_CALLS("keel.webhook.calls", "webhook calls by outcome: the answer's status class, or the failure"),
    /** Counter: delivery attempts. Tags: subscription, type, outcome (success, retry, dead_letter, paused). */
    DELIVERIES("keel.deliveries", "delivery attempts, by outcome"),
    /** Timer: handler time per attempt. Tags: subscription, type. */
    DELIVERY_DURATION("keel.delivery.duration", "handler time per attempt"),
    /** Gauge: events appended to a lane that a subscription has not passed yet. Tags: subscription, lane. */
    LANE_LAG("keel.lane.lag", "events appended to a lane that the subscription has not passed yet"),
    /** Gauge: deliveries waiting for a retry or their time, and parked ones. Tags: subscription, state. */
    PENDING("keel.pending", "deliveries waiting for a retry or their time (due) and those parked behind them (parked)"),
    /** Gauge: dead letters held. Tags: subscription. */
    DEAD_LETTERS("keel.dead.letters", "dead letters held for the subscription"),
    /** Counter: attempts that reached 80% of their timeout. Tags: subscription. */
    TIMEOUT_WARNINGS("keel.delivery.timeout.warnings", "attempts that reached 80% of their timeout"),
    /** Counter: attempts interrupted at their timeout (and its grace). Tags: subscription. */
    TIMEOUTS("keel.delivery.timeouts", "attempts interrupted at their timeout and grace"),
    /** Counter: attempts that ran past their timeout and finished within its grace. Tags: subscription. */
    GRACE_RECOVERIES(
            "keel.delivery.grace.recoveries", "attempts that ran past their timeout and finished within its grace"),
    /** Counter: attempts an operator cancelled while they ran. Tags: subscription. */
    CANCELLATIONS("keel.delivery.cancellations", "attempts an operator cancelled while they ran"),
    /** Gauge: circuit state, 0 closed, 1 open, 2 half-open, 3 other. Tags: subscription, breaker. */
    CIRCUIT_STATE("keel.circuit.state", "circuit breaker state: 0 closed, 1 open, 2 half-open, 3 other"),
    /** Gauge: subscriptions registered. */
    SUBSCRIPTIONS("keel.subscriptions", "subscriptions registered with the runtime"),
    /** Gauge: lanes of the log (state=total) and those this instance delivers now (state=held). Tags: state. */
    LANES("keel.lanes", "lanes of the log (total) and those this instance delivers now (held)"),
    LANE_CHANGES(
            "keel.lane.changes",
            "lanes this instance took over (gained) or stopped delivering (lost): how often lanes move between instances");

    private final String meterName;
    private final String description;

    KeelMeter(String meterName, String description) {
        this.meterName = meterName;
        this.description = description;
    }

    /** What the meter measures: its Prometheus HELP text. */
    public String description() {
        return description;
    }

    /** The Micrometer meter name. */
    public String meterName() {
        return meterName;
    }
}
