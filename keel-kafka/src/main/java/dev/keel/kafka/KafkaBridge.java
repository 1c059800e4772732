package dev.keel.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.spi.EnvelopeCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings records of topics Keel did not write into a runtime, so that Keel's delivery semantics (per-key
 * parking retries, dead letters with replay, circuit breakers, webhooks and streams) apply to them. Records are
 * read as CloudEvents in the Kafka protocol binding (binary or structured mode), or as plain JSON, text or bytes
 * with the event type given here.
 *
 * <p>Each record becomes an event emitted into the runtime with the idempotency key {@code
 * kafka:<topic>/<partition>/<offset>}, and the consumer group's offsets are committed only after the runtime
 * acknowledged every event of a poll: a crash re-reads at most one poll, and dedup drops what was emitted
 * already. The group uses cooperative-sticky rebalancing; a poll's events are acknowledged before the next poll,
 * so a revoked partition has nothing in flight. A record that cannot be read is sent with its raw bytes and the
 * reason to {@code <topic>.dlq} and never blocks its partition.
 *
 * <p>Threads: one platform thread ({@code keel-kafka-bridge}) owns the consumer and the dead-letter producer.
 */
public final class KafkaBridge implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KafkaBridge.class);

    /** How a record's value is read. */
    public enum Format {
        /** CloudEvents, binary mode ({@code ce_} headers) or structured ({@code application/cloudevents+json}). */
        CLOUDEVENTS,
        /** A JSON document, as the data of an event of the configured type. */
        JSON,
        /** UTF-8 text, as the data of an event of the configured type. */
        STRING,
        /** The raw bytes, as the data of an event of the configured type. */
        BYTES
    }

    private final Builder config;
    private final CloudEventHeaders binary;
    private final EnvelopeCodec structured;
    private final ObjectMapper mapper;
    private final AtomicLong bridged = new AtomicLong();
    private final AtomicLong deadLettered = new AtomicLong();
    private volatile boolean running;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private Thread thread;

    private KafkaBridge(Builder b) {
        this.config = b;
        this.mapper = b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper();
        this.binary = new CloudEventHeaders(mapper);
        this.structured = new EnvelopeCodec(mapper);
    }

    /** A bridge reading the topics as the consumer group. */
    public static Builder builder(String bootstrapServers, String group, String... topics) {
        return new Builder(bootstrapServers, group, List.of(topics));
    }

    /** Starts reading into the runtime, on a thread of its own. */
    public synchronized KafkaBridge start(Keel keel) {
        if (running) {
            throw new IllegalStateException("the bridge of group " + config.group + " is running already");
        }
        Map<String, Object> c = new HashMap<>(config.clientProperties);
        c.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, config.group);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, config.fromStart ? "earliest" : "latest");
        c.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, config.maxPollRecords);
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        KafkaConsumer<byte[], byte[]> mine = new KafkaConsumer<>(c);
        consumer = mine;
        running = true;
        thread = Thread.ofPlatform().name("keel-kafka-bridge").start(() -> run(keel, mine));
        return this;
    }

    private void run(Keel keel, KafkaConsumer<byte[], byte[]> consumer) {
        Map<String, Object> p = new HashMap<>(config.clientProperties);
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        try (KafkaProducer<byte[], byte[]> dlq = new KafkaProducer<>(p)) {
            consumer.subscribe(config.topics, new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    // Nothing in flight: every poll's events were acknowledged and committed before this poll.
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
            });
            while (running) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                if (!records.isEmpty() && !bridge(keel, consumer, records, dlq)) {
                    rewind(consumer, records);
                    Thread.sleep(config.retryBackoff.toMillis());
                }
            }
        } catch (WakeupException | InterruptedException e) {
            // closing
        } catch (RuntimeException e) {
            log.error("the Kafka bridge of group {} stopped: {}", config.group, e.toString(), e);
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Emits a poll's records and commits their offsets; false when the runtime refused some (read them again). */
    private boolean bridge(
            Keel keel,
            KafkaConsumer<byte[], byte[]> consumer,
            ConsumerRecords<byte[], byte[]> records,
            KafkaProducer<byte[], byte[]> dlq) {
        List<CompletableFuture<?>> acks = new ArrayList<>();
        // Partitions whose next record the runtime refused for now: their later records wait for the rewind, so
        // that none of them lands before the refused one.
        Set<TopicPartition> halted = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            TopicPartition from = new TopicPartition(r.topic(), r.partition());
            if (halted.contains(from)) {
                continue;
            }
            Event<Object> e;
            try {
                e = event(r);
            } catch (RuntimeException unreadable) {
                acks.add(deadLetter(r, unreadable, dlq));
                continue;
            }
            CompletableFuture<Object> emitted;
            if (e.deadline() != null) {
                // A chain's deadline is the runtime's to give (its chain budget), not a foreign producer's.
                e = e.toBuilder().deadline(null).build();
            }
            try {
                emitted = keel.emit(e).thenApply(receipt -> receipt);
            } catch (RuntimeException refused) {
                if (!refusedForGood(refused)) {
                    halted.add(from);
                }
                emitted = CompletableFuture.failedFuture(refused);
            }
            // An event the runtime refuses for what it is (invalid, too large, failing validation) would be refused
            // again: it goes to the dead-letter topic, and the partition moves on.
            acks.add(emitted.exceptionallyCompose(error -> {
                Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                        ? error.getCause()
                        : error;
                return refusedForGood(cause)
                        ? deadLetter(r, (RuntimeException) cause, dlq)
                        : CompletableFuture.failedFuture(cause);
            }));
        }
        try {
            CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new)).get(25, TimeUnit.SECONDS);
        } catch (Exception notAll) {
            log.warn(
                    "the runtime did not take a poll of {} records; reading them again: {}",
                    records.count(),
                    notAll.toString());
            return false;
        }
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<byte[], byte[]>> part = records.records(tp);
            next.put(tp, new OffsetAndMetadata(part.getLast().offset() + 1));
        }
        try {
            consumer.commitSync(next);
        } catch (org.apache.kafka.common.KafkaException e) {
            // A rebalance or a slow broker: the records may be read again, and their idempotency keys drop them.
            log.warn(
                    "the bridge of group {} could not commit its offsets ({}); it reads on",
                    config.group,
                    e.toString());
        }
        bridged.addAndGet(records.count());
        return true;
    }

    private static boolean refusedForGood(Throwable t) {
        return t instanceof dev.keel.InvalidEventException
                || t instanceof dev.keel.ValidationFailedException
                || t instanceof dev.keel.PayloadTooLargeException
                || t instanceof dev.keel.LoopDetectedException
                || t instanceof dev.keel.ChainBudgetExceededException;
    }

    private static void rewind(KafkaConsumer<byte[], byte[]> consumer, ConsumerRecords<byte[], byte[]> records) {
        for (TopicPartition tp : records.partitions()) {
            consumer.seek(tp, records.records(tp).getFirst().offset());
        }
    }

    private CompletableFuture<Object> deadLetter(
            ConsumerRecord<byte[], byte[]> r, RuntimeException why, KafkaProducer<byte[], byte[]> dlq) {
        RecordHeaders h = new RecordHeaders();
        r.headers().forEach(h::add);
        h.add("keel_original_topic", r.topic().getBytes(StandardCharsets.UTF_8));
        h.add("keel_original_partition", Integer.toString(r.partition()).getBytes(StandardCharsets.UTF_8));
        h.add("keel_original_offset", Long.toString(r.offset()).getBytes(StandardCharsets.UTF_8));
        h.add("keel_error_class", why.getClass().getName().getBytes(StandardCharsets.UTF_8));
        h.add("keel_error_message", String.valueOf(why.getMessage()).getBytes(StandardCharsets.UTF_8));
        h.add("keel_first_failure", Instant.now().toString().getBytes(StandardCharsets.UTF_8));
        CompletableFuture<Object> done = new CompletableFuture<>();
        dlq.send(new ProducerRecord<>(r.topic() + ".dlq", null, r.key(), r.value(), h), (m, error) -> {
            if (error != null) {
                done.completeExceptionally(error);
            } else {
                deadLettered.incrementAndGet();
                done.complete(m);
            }
        });
        return done;
    }

    /** The event a record carries, with the idempotency key of its place in the topic. */
    Event<Object> event(ConsumerRecord<byte[], byte[]> r) {
        String place = r.topic() + "/" + r.partition() + "/" + r.offset();
        String recordKey = r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8);
        Event.Builder<Object> b =
                switch (config.format) {
                    case CLOUDEVENTS -> {
                        Event<Object> ce;
                        if (CloudEventHeaders.isBinary(r.headers())) {
                            ce = binary.read(r.headers(), r.value());
                        } else if (isStructured(CloudEventHeaders.text(r.headers(), "content-type"))) {
                            if (r.value() == null) {
                                throw new IllegalArgumentException("a structured CloudEvent with no value");
                            }
                            ce = structured.read(r.value());
                        } else {
                            throw new IllegalArgumentException("not a CloudEvent: no ce_specversion header and the"
                                    + " content type is not application/cloudevents+json");
                        }
                        Event.Builder<Object> eb = ce.toBuilder();
                        if (ce.partitionKey() == null && recordKey != null) {
                            eb.key(recordKey);
                        }
                        yield eb;
                    }
                    case JSON -> plain(r, readJson(r.value()), recordKey, "application/json");
                    case STRING ->
                        plain(
                                r,
                                r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8),
                                recordKey,
                                "text/plain");
                    case BYTES -> plain(r, r.value(), recordKey, "application/octet-stream");
                };
        return b.idempotencyKey("kafka:" + place).build();
    }

    private Event.Builder<Object> plain(ConsumerRecord<byte[], byte[]> r, Object data, String key, String contentType) {
        Event.Builder<Object> b = Event.builder(config.type, data)
                .id(r.topic() + "-" + r.partition() + "-" + r.offset())
                .source(config.source != null ? config.source : "kafka://" + r.topic())
                .time(Instant.ofEpochMilli(r.timestamp()))
                .dataContentType(contentType);
        if (key != null) {
            b.key(key);
        }
        String trace = CloudEventHeaders.text(r.headers(), "traceparent");
        if (trace != null) {
            b.traceparent(trace);
        }
        return b;
    }

    private Object readJson(byte[] value) {
        if (value == null) {
            return null;
        }
        try {
            return mapper.readValue(value, Object.class);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("the value is not JSON: " + e.getMessage());
        }
    }

    private static boolean isStructured(String contentType) {
        return contentType != null
                && contentType.toLowerCase(java.util.Locale.ROOT).startsWith("application/cloudevents+json");
    }

    /** Records bridged into the runtime so far. */
    public long bridged() {
        return bridged.get();
    }

    /** Records sent to a {@code .dlq} topic because they could not be read. */
    public long deadLettered() {
        return deadLettered.get();
    }

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (!running) {
                return;
            }
            running = false;
            t = thread;
        }
        consumer.wakeup();
        try {
            t.join(Duration.ofSeconds(40));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Configuration of a {@link KafkaBridge}. */
    public static final class Builder {
        private final String bootstrapServers;
        private final String group;
        private final List<String> topics;
        private Format format = Format.CLOUDEVENTS;
        private String type;
        private String source;
        private boolean fromStart = true;
        private int maxPollRecords = 500;
        private Duration retryBackoff = Duration.ofSeconds(1);
        private final Map<String, Object> clientProperties = new HashMap<>();
        private ObjectMapper objectMapper;

        private Builder(String bootstrapServers, String group, List<String> topics) {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("a bridge needs bootstrap servers, as host:port[,host:port...]");
            }
            if (group == null || group.isBlank()) {
                throw new IllegalArgumentException("a bridge needs a consumer group");
            }
            if (topics.isEmpty()) {
                throw new IllegalArgumentException("a bridge needs at least one topic");
            }
            this.bootstrapServers = bootstrapServers;
            this.group = group;
            this.topics = topics;
        }

        /**
         * How values are read; {@link Format#CLOUDEVENTS} unless set. The plain formats need {@link #type}.
         */
        public Builder format(Format value) {
            this.format = Objects.requireNonNull(value, "format");
            return this;
        }

        /** The event type of records read in a plain format. */
        public Builder type(String value) {
            this.type = Objects.requireNonNull(value, "type");
            return this;
        }

        /** The source of events read in a plain format; {@code kafka://<topic>} unless set. */
        public Builder source(String value) {
            this.source = Objects.requireNonNull(value, "source");
            return this;
        }

        /** Whether a group without committed offsets starts at the oldest record (default) or the newest. */
        public Builder fromStart(boolean value) {
            this.fromStart = value;
            return this;
        }

        /** Records read per poll, all emitted and acknowledged before the next. Default 500. */
        public Builder maxPollRecords(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("max poll records is at least 1, but was " + value);
            }
            this.maxPollRecords = value;
            return this;
        }

        /** How long to wait before reading a poll again that the runtime refused (full, closing). Default 1 s. */
        public Builder retryBackoff(Duration value) {
            this.retryBackoff = Objects.requireNonNull(value, "retryBackoff");
            return this;
        }

        /** A Kafka client setting (security and the like). */
        public Builder clientProperty(String key, Object value) {
            clientProperties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /** The mapper for JSON data; Keel's default otherwise. */
        public Builder objectMapper(ObjectMapper value) {
            this.objectMapper = value;
            return this;
        }

        public KafkaBridge build() {
            if (format != Format.CLOUDEVENTS && type == null) {
                throw new IllegalStateException(
                        "a bridge reading " + format + " needs the event type: KafkaBridge.builder(...).type(\"...\")");
            }
            return new KafkaBridge(this);
        }
    }
}
