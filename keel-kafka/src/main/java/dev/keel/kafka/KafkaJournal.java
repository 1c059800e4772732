package dev.keel.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Keel's journal on Apache Kafka: a deployment that needs no database. The log is a topic whose partitions are
 * Keel's lanes; everything else Keel keeps lives in topics beside it:
 *
 * <ul>
 *   <li>{@code <topic>}: the events, lane {@code n} in partition {@code n}, sequence = offset + 1;
 *   <li>{@code <topic>.state} (compacted, per lane): cursors, pending deliveries (retries, parked keys),
 *       outcome counts and reprocess requests, written by the lane's owner in one transaction per commit,
 *       with the cursor also committed as the offset of the subscription's consumer group
 *       {@code keel.<topic>.<subscription>};
 *   <li>{@code <topic>.dlq} (compacted, per lane): dead letters, with headers naming their origin and error;
 *   <li>{@code <topic>.meta} (compacted): pauses, stored subscriptions, lane leases;
 *   <li>{@code <topic>.dedup}: claims of dedup keys.
 * </ul>
 *
 * <p>The lanes are leased to instances through {@code .meta}, and Kafka's transactional fencing makes a lost
 * lease final: see {@link MetaTopic} and {@link LaneTransactions}. Build one with {@link #builder()}.
 *
 * <p>This class wires the parts and checks leases; each part owns its topic (this is why it is long).
 */
public final class KafkaJournal implements Journal {
    /** The log topic's name unless configured. */
    public static final String DEFAULT_TOPIC = "keel.events";

    private final Builder config;
    private final StateCodec codec;
    private Admin admin;
    private KafkaProducer<byte[], byte[]> producer;
    private ExecutorService completer;
    private LogReader reader;
    private Appender appender;
    private LaneState state;
    private DeadLetterTopic deadLetters;
    private MetaTopic meta;
    private AuditTopic audit;
    private DedupClaims dedup;
    private LaneTransactions transactions;
    private long[] pruned;

    private KafkaJournal(Builder b) {
        this.config = b;
        this.codec = new StateCodec(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper());
    }

    /** A builder; {@link Builder#bootstrapServers} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** A journal on the brokers with the default topic, creating what is missing. */
    public static KafkaJournal of(String bootstrapServers) {
        return builder().bootstrapServers(bootstrapServers).build();
    }

    @Override
    public void compressPayloads(dev.keel.PayloadCompression compression) {
        codec.envelopes().compressPayloads(compression);
    }

    @Override
    public void open(int lanes) {
        String topic = config.topic;
        Duration timeout = config.timeout;
        try {
            Map<String, Object> common = new HashMap<>(config.clientProperties);
            common.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers);
            Map<String, Object> adminConfig = new HashMap<>(common);
            adminConfig.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());
            adminConfig.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(timeout.toMillis(), 30_000));
            admin = Admin.create(adminConfig);
            KafkaTopics.ensure(
                    admin,
                    config.bootstrapServers,
                    KafkaTopics.specs(topic, lanes, config.dedupRetention),
                    config.createTopics,
                    config.replicationFactor,
                    timeout);

            Map<String, Object> consumer = new HashMap<>(common);
            consumer.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
            consumer.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
            consumer.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
            consumer.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            consumer.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            consumer.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) timeout.toMillis());

            Map<String, Object> produce = new HashMap<>(common);
            produce.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
            produce.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
            produce.put(ProducerConfig.ACKS_CONFIG, "all");
            produce.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
            produce.put(ProducerConfig.LINGER_MS_CONFIG, 5);
            produce.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
            produce.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, config.maxRecordBytes);
            produce.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, timeout.toMillis());
            // An unanswered record fails within 20 s, well inside a dedup claim's life (DedupClaims.CLAIM_TIMEOUT).
            produce.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
            produce.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20_000);
            producer = new KafkaProducer<>(produce);

            Map<String, Object> transactional = new HashMap<>(produce);
            transactional.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 30_000);
            transactions = new LaneTransactions(topic, lanes, transactional);

            completer = Executors.newSingleThreadExecutor(
                    r -> Thread.ofPlatform().name("keel-kafka-acks").daemon().unstarted(r));
            // The log is written without transactions: its readers need not wait for a stable offset.
            Map<String, Object> logConsumer = new HashMap<>(consumer);
            logConsumer.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
            // Log readers seek to where they read: a position out of range is theirs to handle, never a silent
            // reset to the start.
            logConsumer.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
            reader = new LogReader(topic, lanes, logConsumer, codec.envelopes(), timeout, config.maxRecordBytes);
            state = new LaneState(topic + ".state", lanes, consumer, codec, timeout);
            deadLetters = new DeadLetterTopic(topic + ".dlq", topic, lanes, consumer, codec, timeout);
            meta = new MetaTopic(topic + ".meta", lanes, consumer, producer, codec, timeout, transactions);
            transactions.ownership(meta::stillHolds);
            dedup = new DedupClaims(topic + ".dedup", lanes, consumer, codec, timeout);
            audit = new AuditTopic(topic + ".audit", consumer, producer, timeout);
            appender = new Appender(
                    topic,
                    producer,
                    codec.envelopes(),
                    reader,
                    dedup,
                    completer,
                    timeout,
                    config.maxRecordBytes,
                    config.dedupRetention);
            pruned = new long[lanes];
        } catch (RuntimeException e) {
            close();
            if (e instanceof JournalException je) {
                throw je;
            }
            throw new JournalException(
                    "the Kafka journal on " + config.bootstrapServers + " could not start: " + e.getMessage(), e);
        }
    }

    // ---- the log ----

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        return appender.append(batch);
    }

    @Override
    public CompletableFuture<AppendResult> append(Append one) {
        return appender.appendOne(one);
    }

    @Override
    public long head(int lane) {
        return reader.head(lane);
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        return reader.read(lane, after, max);
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        return state.cursor(subscription, lane);
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        OptionalLong now = state.cursor(subscription, lane);
        if (now.isPresent()) {
            return now.getAsLong();
        }
        long offset = send(state.openCursor(subscription, lane, startAt));
        // Read the lane's state up to this record (past any transaction open before it), so that an earlier first
        // cursor, or a cursor committed before it, is the one reported.
        state.tail().catchUpTo(lane, offset);
        return state.cursor(subscription, lane).orElse(startAt);
    }

    @Override
    public void commit(Commit c) {
        if (c.isEmpty()) {
            return;
        }
        if (c.fence() != Commit.NO_FENCE) {
            long token = meta.token(c.lane());
            if (token != c.fence()) {
                throw new LeaseLostException(c.lane(), c.fence(), token);
            }
        }
        List<ProducerRecord<byte[], byte[]>> stateRecords = state.records(c);
        List<ProducerRecord<byte[], byte[]>> dlqRecords = new ArrayList<>();
        for (DeadLetter d : c.deadLetters()) {
            dlqRecords.add(deadLetters.record(d));
        }
        for (String id : c.removedDeadLetters()) {
            dlqRecords.add(deadLetters.tombstone(id, c.lane()));
        }
        List<ProducerRecord<byte[], byte[]>> all = new ArrayList<>(stateRecords);
        all.addAll(dlqRecords);
        List<Long> offsets = transactions.commit(c, all, meta.token(c.lane()));
        List<Long> stateOffsets = offsets.subList(0, stateRecords.size());
        List<Long> dlqOffsets = offsets.subList(stateRecords.size(), offsets.size());
        state.applied(stateRecords, stateOffsets);
        deadLetters.applied(dlqRecords, dlqOffsets);
        // Readable by other instances a moment later, once the broker wrote the transaction's markers: a reader
        // catches up past every transaction open when it starts (TopicTail.catchUp), so it never misses this one.
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        return state.pending(subscription, lane);
    }

    @Override
    public Tally tally(String subscription) {
        return state.tally(subscription);
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        TopicPartition tp = new TopicPartition(config.topic, lane);
        try {
            long byTime = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(appendedBefore.toEpochMilli())))
                    .partitionResult(tp)
                    .get(config.timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .offset();
            long before = byTime < 0 ? passed : Math.min(passed, byTime);
            if (before > pruned[lane]) {
                admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(before)))
                        .all()
                        .get(config.timeout.toMillis(), TimeUnit.MILLISECONDS);
                pruned[lane] = before;
                reader.pruned(lane, before);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | KafkaException e) {
            throw new JournalException("lane " + lane + " of " + config.topic + " could not be pruned: " + e, e);
        }
    }

    /** Every 10 s: pruning costs the broker a request per lane. */
    @Override
    public Duration pruneInterval() {
        return Duration.ofSeconds(10);
    }

    /** A commit is a Kafka transaction (a few milliseconds): busy subscriptions share one every 100 ms. */
    @Override
    public Duration commitInterval() {
        return Duration.ofMillis(100);
    }

    // ---- dead letters ----

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        return deadLetters.query(query);
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        return deadLetters.get(id);
    }

    @Override
    public boolean updateDeadLetter(DeadLetter d) {
        if (deadLetters.get(d.id()).isEmpty()) {
            return false;
        }
        ProducerRecord<byte[], byte[]> r = deadLetters.record(d);
        deadLetters.applied(List.of(r), List.of(send(r)));
        return true;
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        Optional<DeadLetter> d = deadLetters.get(id);
        if (d.isEmpty()) {
            return false;
        }
        delete(d.get());
        return true;
    }

    private void delete(DeadLetter d) {
        ProducerRecord<byte[], byte[]> tombstone = deadLetters.tombstone(d.id(), d.lane());
        ProducerRecord<byte[], byte[]> request = state.reprocessDone(d.id(), d.lane());
        state.applied(List.of(request), List.of(send(request)));
        deadLetters.applied(List.of(tombstone), List.of(send(tombstone)));
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        int n = 0;
        for (DeadLetter d : deadLetters.all()) {
            if (d.deadLetteredAt().isBefore(before)) {
                delete(d);
                n++;
            }
        }
        return n;
    }

    @Override
    public long countDeadLetters(String subscription) {
        return deadLetters.count(subscription);
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        Optional<DeadLetter> d = deadLetters.get(deadLetterId);
        if (d.isEmpty()) {
            return false;
        }
        state.tail().catchUp();
        if (!state.reprocessRequested(deadLetterId)) {
            ProducerRecord<byte[], byte[]> r = state.reprocessRequest(
                    deadLetterId, d.get().subscription(), d.get().lane(), at);
            state.applied(List.of(r), List.of(send(r)));
        }
        return true;
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        return state.reprocessOrders(max);
    }

    // ---- coordination ----

    @Override
    public void pause(PauseKey key, Instant until) {
        meta.pause(key, until);
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        return meta.pauses(now);
    }

    /** The audit trail in {@code <topic>.audit}. */
    @Override
    public Optional<dev.keel.spi.AuditTrail> auditTrail() {
        return Optional.ofNullable(audit);
    }

    @Override
    public Optional<LaneLeases> leases() {
        return Optional.of(meta);
    }

    @Override
    public long saveSubscription(String key, String document) {
        return meta.saveSubscription(key, document);
    }

    @Override
    public long deleteSubscription(String key) {
        return meta.deleteSubscription(key);
    }

    @Override
    public long subscriptionsRevision() {
        return meta.subscriptionsRevision();
    }

    @Override
    public List<StoredSubscription> subscriptions() {
        return meta.subscriptions();
    }

    /** Sends one record with the plain producer, waits for the broker's acknowledgement, returns its offset. */
    private long send(ProducerRecord<byte[], byte[]> r) {
        try {
            return producer.send(r)
                    .get(config.timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .offset();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while writing to " + r.topic(), e);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new JournalException("writing to " + r.topic() + " failed: " + cause, cause);
        }
    }

    @Override
    public void close() {
        for (AutoCloseable part : new AutoCloseable[] {meta, transactions, reader, state, deadLetters, dedup, audit}) {
            if (part != null) {
                try {
                    part.close();
                } catch (Exception ignored) {
                    // closing the rest matters more
                }
            }
        }
        if (producer != null) {
            producer.close(Duration.ofSeconds(5));
        }
        if (completer != null) {
            completer.shutdown();
        }
        if (admin != null) {
            admin.close(Duration.ofSeconds(1));
        }
    }

    /** Configuration of a {@link KafkaJournal}. */
    public static final class Builder {
        private String bootstrapServers;
        private String topic = DEFAULT_TOPIC;
        private boolean createTopics = true;
        private Optional<Short> replicationFactor = Optional.empty();
        private Duration timeout = Duration.ofSeconds(30);
        private Duration dedupRetention = Duration.ofDays(7);
        private int maxRecordBytes = 1024 * 1024;
        private final Map<String, Object> clientProperties = new HashMap<>();
        private ObjectMapper objectMapper;

        private Builder() {}

        /** The brokers to start from, {@code host:port[,host:port...]}. Required. */
        public Builder bootstrapServers(String value) {
            if (value == null || value.isBlank()) {
                throw new IllegalArgumentException("bootstrap servers are required, as host:port[,host:port...]");
            }
            this.bootstrapServers = value;
            return this;
        }

        /** The log topic's name; Keel's own topics are named after it. Default {@value #DEFAULT_TOPIC}. */
        public Builder topic(String value) {
            if (value == null || !value.matches("[a-zA-Z0-9._-]{1,200}")) {
                throw new IllegalArgumentException(
                        "a topic name is 1 to 200 letters, digits, '.', '_' or '-', but was '" + value + "'");
            }
            this.topic = value;
            return this;
        }

        /** Whether missing topics are created (default true); when false, a missing topic is refused at open. */
        public Builder createTopics(boolean value) {
            this.createTopics = value;
            return this;
        }

        /** The replication factor of created topics; the broker's default unless set. */
        public Builder replicationFactor(int value) {
            if (value < 1 || value > Short.MAX_VALUE) {
                throw new IllegalArgumentException("a replication factor is at least 1, but was " + value);
            }
            this.replicationFactor = Optional.of((short) value);
            return this;
        }

        /** How long start-up and each call to the brokers may take before failing. Default 30 s. */
        public Builder timeout(Duration value) {
            if (value == null || value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException("a timeout is positive, but was " + value);
            }
            this.timeout = value;
            return this;
        }

        /** How long dedup claims are kept; longer dedup windows are cut to it. Default 7 days. */
        public Builder dedupRetention(Duration value) {
            if (value == null || value.compareTo(Duration.ofMinutes(10)) < 0) {
                throw new IllegalArgumentException("the dedup retention is at least 10 minutes, but was " + value);
            }
            this.dedupRetention = value;
            return this;
        }

        /** The largest record the producer sends ({@code max.request.size}); keep it within the broker's limit. */
        public Builder maxRecordBytes(int value) {
            if (value < 1024) {
                throw new IllegalArgumentException("the largest record is at least 1024 bytes, but was " + value);
            }
            this.maxRecordBytes = value;
            return this;
        }

        /** A Kafka client setting for every client (security, timeouts), as in kafka-clients' documentation. */
        public Builder clientProperty(String key, Object value) {
            clientProperties.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /** The mapper for event data; Keel's default otherwise. */
        public Builder objectMapper(ObjectMapper value) {
            this.objectMapper = value;
            return this;
        }

        public KafkaJournal build() {
            if (bootstrapServers == null) {
                throw new IllegalStateException("KafkaJournal.builder() needs bootstrapServers(\"host:port\")");
            }
            return new KafkaJournal(this);
        }
    }
}
