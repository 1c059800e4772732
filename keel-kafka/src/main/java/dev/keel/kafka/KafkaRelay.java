package dev.keel.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.Middleware;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.internal.payload.PayloadCodec;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Forwards Keel's events to a Kafka topic: a transactional outbox for a runtime on SQLite or PostgreSQL. The relay
 * is a {@link Subscription} like any other, so an event is published once the journal has it, in the order of its
 * key, and its cursor moves only after the broker acknowledged it ({@code acks=all}, idempotent producer). Records
 * are CloudEvents in binary mode, keyed by the event's ordering key.
 *
 * <p>While the broker is down, sends fail, the relay's circuit breaker opens and pauses the subscription (no
 * attempts are used up), the events wait in the journal, and {@link #health()} says the relay is degraded and
 * why. When the broker is back, half-open probes close the circuit and the relay catches up in order per key,
 * at most {@link Builder#ratePerSecond} events a second when set.
 *
 * <p>Delivery is at least once: an instance that stops after the broker acknowledged a record and before the
 * cursor moved sends that record again. Consumers dedup on the CloudEvents id ({@code ce_id}).
 *
 * <pre>{@code
 * KafkaRelay relay = KafkaRelay.builder("broker:9092", "orders").types("order.*").build();
 * keel.subscribe(relay.subscription());
 * }</pre>
 */
public final class KafkaRelay implements AutoCloseable, dev.keel.ComponentHealth.Check {
    private final Builder config;
    private final KafkaProducer<byte[], byte[]> producer;
    private final CloudEventHeaders binary;
    private final CircuitBreaker breaker;
    private volatile String lastError;
    private volatile boolean closed;

    private KafkaRelay(Builder b) {
        this.config = b;
        Map<String, Object> p = new HashMap<>(b.clientProperties);
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, b.bootstrapServers);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        long send = b.sendTimeout.toMillis();
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, send);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.max(1000, send / 2));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) send);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        this.producer = new KafkaProducer<>(p);
        this.binary = new CloudEventHeaders(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper());
        this.breaker = CircuitBreaker.of(
                b.name,
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(5)
                        .minimumNumberOfCalls(3)
                        .failureRateThreshold(50)
                        .waitDurationInOpenState(b.probeInterval)
                        .permittedNumberOfCallsInHalfOpenState(1)
                        // Only the broker's failures open it: a poison event fails alone, as any handler failure.
                        .recordExceptions(
                                org.apache.kafka.common.KafkaException.class,
                                TimeoutException.class,
                                RelayClosedException.class)
                        .build());
    }

    /** A relay to the topic on the brokers. */
    public static Builder builder(String bootstrapServers, String topic) {
        return new Builder(bootstrapServers, topic);
    }

    /** The subscription that relays; register it with the runtime. */
    public Subscription subscription() {
        List<Middleware> middleware = new ArrayList<>();
        middleware.add(Middleware.circuitBreaker(breaker));
        if (config.ratePerSecond > 0) {
            middleware.add(Middleware.rateLimiter(RateLimiter.of(
                    config.name + "-rate",
                    RateLimiterConfig.custom()
                            .limitForPeriod(config.ratePerSecond)
                            .limitRefreshPeriod(Duration.ofSeconds(1))
                            .timeoutDuration(Duration.ZERO)
                            .build())));
        }
        return Subscription.builder(config.name)
                .types(config.types.toArray(String[]::new))
                .ordering(OrderingMode.PER_KEY)
                .retry(config.retry)
                .timeout(config.sendTimeout.plusSeconds(5))
                .use(middleware.toArray(Middleware[]::new))
                .handler(Object.class, d -> publish(d.event()))
                .build();
    }

    /** The relay was closed while its subscription still ran: the circuit opens, the events wait. */
    static final class RelayClosedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RelayClosedException(String topic) {
            super("the relay to " + topic + " is closed; close the runtime before its relays");
        }
    }

    private void publish(Event<?> e) throws Exception {
        if (closed) {
            throw new RelayClosedException(config.topic);
        }
        String key = e.partitionKey();
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
                config.topic,
                null,
                key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                binary.value(e),
                binary.headers(e));
        try {
            producer.send(record).get(config.sendTimeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
            lastError = null;
        } catch (ExecutionException ex) {
            Throwable cause = ex.getCause();
            lastError = cause.getClass().getSimpleName() + ": " + cause.getMessage();
            throw cause instanceof Exception c ? c : ex;
        } catch (TimeoutException ex) {
            lastError = "no acknowledgement from " + config.bootstrapServers + " within " + config.sendTimeout;
            throw ex;
        }
    }

    /**
     * Whether the relay publishes now, and if not, why.
     *
     * @param healthy true while the circuit is closed and the last send succeeded
     * @param reason why it is degraded, or null when healthy
     */
    public record Health(boolean healthy, String reason) {}

    /** The relay's health: degraded while its circuit is not closed or its last send failed. */
    public Health health() {
        CircuitBreaker.State state = breaker.getState();
        String error = lastError;
        if (state == CircuitBreaker.State.CLOSED && error == null) {
            return new Health(true, null);
        }
        return new Health(
                false,
                "relay '" + config.name + "' to " + config.topic + ": circuit "
                        + state.name().toLowerCase(java.util.Locale.ROOT)
                        + (error == null ? "" : ", last send failed: " + error));
    }

    /**
     * The relay as a health component, under its name: degraded while it cannot publish (the source journal
     * keeps the events, which go out in key order once the broker is back). Register it with
     * {@code Keel.Builder.healthCheck(relay)} or a server's {@code healthCheck}.
     */
    @Override
    public dev.keel.ComponentHealth check() {
        Health h = health();
        java.util.Map<String, Object> details = java.util.Map.of(
                "topic", config.topic, "circuit", breaker.getState().name().toLowerCase(java.util.Locale.ROOT));
        String name = config.name;
        return h.healthy()
                ? dev.keel.ComponentHealth.healthy(name, details)
                : new dev.keel.ComponentHealth(name, dev.keel.ComponentHealth.Status.DEGRADED, h.reason(), details);
    }

    @Override
    public void close() {
        closed = true;
        producer.close(Duration.ofSeconds(5));
    }

    /** Configuration of a {@link KafkaRelay}. */
    public static final class Builder {
        private final String bootstrapServers;
        private final String topic;
        private String name;
        private List<String> types = List.of("**");
        private int ratePerSecond;
        private Duration sendTimeout = Duration.ofSeconds(10);
        private Duration probeInterval = Duration.ofSeconds(5);
        private RetryPolicy retry = RetryPolicy.builder()
                .maxAttempts(20)
                .initialDelay(Duration.ofMillis(200))
                .maxDelay(Duration.ofSeconds(30))
                .build();
        private final Map<String, Object> clientProperties = new HashMap<>();
        private ObjectMapper objectMapper;

        private Builder(String bootstrapServers, String topic) {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("a relay needs bootstrap servers, as host:port[,host:port...]");
            }
            if (topic == null || !topic.matches("[a-zA-Z0-9._-]{1,249}")) {
                throw new IllegalArgumentException(
                        "a topic name is 1 to 249 letters, digits, '.', '_' or '-', but was '" + topic + "'");
            }
            this.bootstrapServers = bootstrapServers;
            this.topic = topic;
            this.name = "relay-" + topic;
        }

        /** The subscription's name; {@code relay-<topic>} unless set. */
        public Builder name(String value) {
            this.name = Objects.requireNonNull(value, "name");
            return this;
        }

        /** The event types relayed, as type patterns; every type unless set. */
        public Builder types(String... patterns) {
            if (patterns.length == 0) {
                throw new IllegalArgumentException("a relay needs at least one type pattern");
            }
            this.types = List.of(patterns);
            return this;
        }

        /** At most this many events a second, so that catching up after an outage spares the brokers; 0 for no limit. */
        public Builder ratePerSecond(int value) {
            if (value < 0) {
                throw new IllegalArgumentException("a rate is 0 (none) or more, but was " + value);
            }
            this.ratePerSecond = value;
            return this;
        }

        /** How long one send may wait for the broker's acknowledgement before it counts as failed. Default 10 s. */
        public Builder sendTimeout(Duration value) {
            if (value == null || value.toMillis() < 1000) {
                throw new IllegalArgumentException("a send timeout is at least 1 s, but was " + value);
            }
            this.sendTimeout = value;
            return this;
        }

        /** How long an open circuit waits before a probe tries the broker again. Default 5 s. */
        public Builder probeInterval(Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("a probe interval is positive, but was " + value);
            }
            this.probeInterval = value;
            return this;
        }

        /** Retries of a failed send while the circuit is closed. Default 20 attempts, 200 ms to 30 s apart. */
        public Builder retry(RetryPolicy value) {
            this.retry = Objects.requireNonNull(value, "retry");
            return this;
        }

        /** A Kafka producer setting (security and the like). */
        public Builder clientProperty(String key, Object value) {
            clientProperties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /** The mapper for event data; Keel's default otherwise. */
        public Builder objectMapper(ObjectMapper value) {
            this.objectMapper = value;
            return this;
        }

        public KafkaRelay build() {
            return new KafkaRelay(this);
        }
    }
}
