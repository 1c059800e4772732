package dev.keel;

import java.time.Instant;
import java.util.Objects;

/**
 * An immutable event envelope with the CloudEvents 1.0 attributes and Keel's extensions.
 *
 * <p>{@code partitionKey} is the ordering key (the CloudEvents partitioning extension): events with the same
 * key go to the same lane and are delivered in emit order. An event without a key is ordered by nothing
 * but its lane. {@code data} is a typed object in-process and JSON on the wire.
 *
 * <p>Build one with {@link #builder(String, Object)} or {@link #of(String, Object)}; missing ids are
 * time-ordered UUIDv7 ({@link EventIds}).
 *
 * @param id unique id; with {@code source} it identifies the event (CloudEvents {@code id})
 * @param source the producer, a URI reference (CloudEvents {@code source})
 * @param type dotted type such as {@code order.created} (see {@link EventType})
 * @param specVersion CloudEvents spec version, {@value #SPEC_VERSION}
 * @param time when the event happened
 * @param subject optional subject (CloudEvents {@code subject})
 * @param dataContentType content type of {@code data}, {@code application/json} by default
 * @param data the payload, may be null
 * @param partitionKey ordering key, may be null
 * @param tenant tenant the event belongs to, may be null
 * @param idempotencyKey producer-chosen key; a second event with the same key is accepted once
 * @param correlationId id shared by all events of one business flow, may be null
 * @param causationId id of the event whose handling emitted this one, may be null
 * @param depth how many events caused this one (0 for an event emitted outside a handler)
 * @param traceparent W3C trace context of the producer, may be null
 * @param priority among due deliveries of different keys, higher goes first; 0 by default
 * @param deliverAt deliver no earlier than this instant, may be null
 * @param deadline when the causation chain this event belongs to runs out of time (its root's time plus the
 *     runtime's chain budget, inherited by every event it causes); a delivery does not start past it, and an
 *     event caused past it is refused. Null for no budget
 * @param <T> the payload type
 */
public record Event<T>(
        String id,
        String source,
        String type,
        String specVersion,
        Instant time,
        String subject,
        String dataContentType,
        T data,
        String partitionKey,
        String tenant,
        String idempotencyKey,
        String correlationId,
        String causationId,
        int depth,
        String traceparent,
        int priority,
        Instant deliverAt,
        Instant deadline) {

    /** An event without a chain deadline. */
    public Event(
            String id,
            String source,
            String type,
            String specVersion,
            Instant time,
            String subject,
            String dataContentType,
            T data,
            String partitionKey,
            String tenant,
            String idempotencyKey,
            String correlationId,
            String causationId,
            int depth,
            String traceparent,
            int priority,
            Instant deliverAt) {
        this(
                id,
                source,
                type,
                specVersion,
                time,
                subject,
                dataContentType,
                data,
                partitionKey,
                tenant,
                idempotencyKey,
                correlationId,
                causationId,
                depth,
                traceparent,
                priority,
                deliverAt,
                null);
    }

    /** The CloudEvents spec version Keel writes. */
    public static final String SPEC_VERSION = "1.0";

    /** The source given to events whose producer names none. */
    public static final String DEFAULT_SOURCE = "/keel";

    /** The content type given to events that name none. */
    public static final String JSON = "application/json";

    /** Validates the envelope; see the record's parameters for what each attribute must be. */
    public Event {
        if (id == null || id.isBlank()) {
            throw new InvalidEventException("event id is missing or blank");
        }
        if (source == null || source.isBlank()) {
            throw new InvalidEventException("event '" + id + "' has no source; give a URI reference such as '/orders'");
        }
        EventType.requireValid(type);
        if (specVersion == null) {
            specVersion = SPEC_VERSION;
        } else if (!SPEC_VERSION.equals(specVersion)) {
            throw new InvalidEventException(
                    "event '" + id + "' has specversion '" + specVersion + "'; Keel takes CloudEvents " + SPEC_VERSION);
        }
        Objects.requireNonNull(time, "time");
        if (dataContentType == null) {
            dataContentType = JSON;
        }
        if (depth < 0) {
            throw new InvalidEventException("event '" + id + "' has a negative depth " + depth);
        }
    }

    /** An event of the type with the payload, a fresh id, the default source and the current time. */
    public static <T> Event<T> of(String type, T data) {
        long now = System.currentTimeMillis();
        return bare(EventIds.next(now), DEFAULT_SOURCE, type, Instant.ofEpochMilli(now), data, null);
    }

    /** An event with only the required attributes, a payload and an ordering key. */
    static <T> Event<T> bare(String id, String source, String type, Instant time, T data, String key) {
        return new Event<>(
                id, source, type, SPEC_VERSION, time, null, JSON, data, key, null, null, null, null, 0, null, 0, null);
    }

    /** A builder for an event of the type with the payload. */
    public static <T> Builder<T> builder(String type, T data) {
        return new Builder<T>().type(type).data(data);
    }

    /** A builder holding this event's attributes, to derive a changed copy. */
    public Builder<T> toBuilder() {
        Builder<T> b = new Builder<>();
        b.id = id;
        b.source = source;
        b.type = type;
        b.time = time;
        b.subject = subject;
        b.dataContentType = dataContentType;
        b.data = data;
        b.partitionKey = partitionKey;
        b.tenant = tenant;
        b.idempotencyKey = idempotencyKey;
        b.correlationId = correlationId;
        b.causationId = causationId;
        b.depth = depth;
        b.traceparent = traceparent;
        b.priority = priority;
        b.deliverAt = deliverAt;
        b.deadline = deadline;
        return b;
    }

    /** This event with another payload (used when converting data to a handler's type). */
    public <R> Event<R> withData(R newData) {
        return new Event<>(
                id,
                source,
                type,
                specVersion,
                time,
                subject,
                dataContentType,
                newData,
                partitionKey,
                tenant,
                idempotencyKey,
                correlationId,
                causationId,
                depth,
                traceparent,
                priority,
                deliverAt,
                deadline);
    }

    /** The key that orders this event: its partition key, or its id when it has none. */
    public String orderingKey() {
        return partitionKey != null ? partitionKey : id;
    }

    /** Builds an {@link Event}; unset ids and times are filled in by {@link #build()}. */
    public static final class Builder<T> {
        private String id;
        private String source = DEFAULT_SOURCE;
        private String type;
        private Instant time;
        private String subject;
        private String dataContentType = JSON;
        private T data;
        private String partitionKey;
        private String tenant;
        private String idempotencyKey;
        private String correlationId;
        private String causationId;
        private int depth;
        private String traceparent;
        private int priority;
        private Instant deliverAt;
        private Instant deadline;

        private Builder() {}

        public Builder<T> id(String id) {
            this.id = id;
            return this;
        }

        public Builder<T> source(String source) {
            this.source = source;
            return this;
        }

        public Builder<T> type(String type) {
            this.type = type;
            return this;
        }

        public Builder<T> time(Instant time) {
            this.time = time;
            return this;
        }

        public Builder<T> subject(String subject) {
            this.subject = subject;
            return this;
        }

        public Builder<T> dataContentType(String dataContentType) {
            this.dataContentType = dataContentType;
            return this;
        }

        public Builder<T> data(T data) {
            this.data = data;
            return this;
        }

        /** The ordering key: same-key events are delivered in emit order. */
        public Builder<T> key(String partitionKey) {
            this.partitionKey = partitionKey;
            return this;
        }

        public Builder<T> tenant(String tenant) {
            this.tenant = tenant;
            return this;
        }

        public Builder<T> idempotencyKey(String idempotencyKey) {
            this.idempotencyKey = idempotencyKey;
            return this;
        }

        public Builder<T> correlationId(String correlationId) {
            this.correlationId = correlationId;
            return this;
        }

        public Builder<T> causationId(String causationId) {
            this.causationId = causationId;
            return this;
        }

        public Builder<T> depth(int depth) {
            this.depth = depth;
            return this;
        }

        /**
         * Makes this the event of a causation chain that {@code cause} is in, as an event emitted while handling
         * {@code cause} is: the causation id is the cause's id; the correlation id, unless one is set, the cause's
         * (or the cause's id, when it starts the chain); the tenant, unless one is set, the cause's; the depth the
         * cause's plus one. The deadline is left alone: how a chain's budget carries is the caller's to decide.
         */
        public Builder<T> causedBy(Event<?> cause) {
            this.causationId = cause.id();
            if (this.correlationId == null) {
                this.correlationId = cause.correlationId() != null ? cause.correlationId() : cause.id();
            }
            if (this.tenant == null) {
                this.tenant = cause.tenant();
            }
            this.depth = cause.depth() + 1;
            return this;
        }

        public Builder<T> traceparent(String traceparent) {
            this.traceparent = traceparent;
            return this;
        }

        /** Among due deliveries of different keys the higher priority goes first; same-key order holds. */
        public Builder<T> priority(int priority) {
            this.priority = priority;
            return this;
        }

        /**
         * When the causation chain runs out of time: a delivery of this event does not start past it, and events
         * its handlers emit inherit it. Normally set by the runtime from its chain budget.
         */
        public Builder<T> deadline(Instant deadline) {
            this.deadline = deadline;
            return this;
        }

        /** Deliver no earlier than this instant (delayed delivery). */
        public Builder<T> deliverAt(Instant deliverAt) {
            this.deliverAt = deliverAt;
            return this;
        }

        /**
         * Builds the event.
         *
         * @throws InvalidEventException when an attribute is missing or malformed
         */
        public Event<T> build() {
            return new Event<>(
                    id != null ? id : EventIds.next(),
                    source,
                    type,
                    SPEC_VERSION,
                    time != null ? time : Instant.now(),
                    subject,
                    dataContentType,
                    data,
                    partitionKey,
                    tenant,
                    idempotencyKey,
                    correlationId,
                    causationId,
                    depth,
                    traceparent,
                    priority,
                    deliverAt,
                    deadline);
        }
    }
}
