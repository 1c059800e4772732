package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.spi.AuditTrail;
import dev.keel.spi.JournalException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The audit trail in {@code <topic>.audit}: one partition, entries as JSON keyed by their id, deleted by the topic's
 * retention ({@link #RETENTION}, set when Keel creates it). Each journal reads the topic from its start into a view
 * sorted in listing order, and catches up before every listing, so that what any instance wrote is listed.
 * {@link #prune} drops older entries from this view (and from what it reads later); the broker deletes them
 * from the topic by its retention.
 */
final class AuditTopic implements AuditTrail, AutoCloseable {
    /** The topic's retention when Keel creates it: the server's default audit retention, 90 days. */
    static final Duration RETENTION = Duration.ofDays(90);

    private static final Logger log = LoggerFactory.getLogger(AuditTopic.class);
    private static final Comparator<Position> NEWEST_FIRST =
            Comparator.comparing(Position::at).thenComparing(Position::id).reversed();

    private final String topic;
    private final Producer<byte[], byte[]> producer;
    private final Duration timeout;
    private final ObjectMapper json = new ObjectMapper();
    private final NavigableMap<Position, AuditEntry> view = new TreeMap<>(NEWEST_FIRST);
    private final TopicTail tail;
    private Instant floor = Instant.MIN;

    AuditTopic(String topic, Map<String, Object> consumerConfig, Producer<byte[], byte[]> producer, Duration timeout) {
        this.topic = topic;
        this.producer = producer;
        this.timeout = timeout;
        this.tail = new TopicTail(consumerConfig, topic, 1, timeout, this::fold);
    }

    /** Runs under the tail's lock. */
    private void fold(ConsumerRecord<byte[], byte[]> r) {
        if (r.value() == null) {
            return;
        }
        try {
            AuditEntry e = decode(json.readTree(r.value()));
            if (!e.at().isBefore(floor)) {
                view.putIfAbsent(Position.of(e), e);
            }
        } catch (IOException | RuntimeException ex) {
            log.warn("skipped an unreadable audit record at offset {} of {}", r.offset(), topic, ex);
        }
    }

    @Override
    public void append(AuditEntry e) {
        try {
            RecordMetadata m = producer.send(
                            new ProducerRecord<>(topic, 0, e.id().getBytes(StandardCharsets.UTF_8), encode(e)))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            tail.catchUpTo(0, m.offset());
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while writing to " + topic, ex);
        } catch (ExecutionException | TimeoutException ex) {
            Throwable cause = ex instanceof ExecutionException ? ex.getCause() : ex;
            throw new JournalException("writing to " + topic + " failed: " + cause, cause);
        }
    }

    @Override
    public AuditPage list(AuditQuery query) {
        tail.catchUp();
        tail.lock.lock();
        try {
            var from = query.before() == null ? view : view.tailMap(query.before(), false);
            List<AuditEntry> page = new ArrayList<>();
            for (AuditEntry e : from.values()) {
                if (query.matches(e)) {
                    if (page.size() == query.limit()) {
                        return new AuditPage(page, true);
                    }
                    page.add(e);
                }
            }
            return new AuditPage(page, false);
        } finally {
            tail.lock.unlock();
        }
    }

    @Override
    public long prune(Instant before) {
        tail.catchUp();
        tail.lock.lock();
        try {
            if (before.isAfter(floor)) {
                floor = before;
            }
            int was = view.size();
            view.values().removeIf(e -> e.at().isBefore(before));
            return was - view.size();
        } finally {
            tail.lock.unlock();
        }
    }

    private byte[] encode(AuditEntry e) {
        ObjectNode n = json.createObjectNode();
        n.put("id", e.id());
        n.put("at", e.at().toEpochMilli());
        n.put("actor", e.actor());
        n.put("tenant", e.tenant());
        n.put("action", e.action());
        n.put("target", e.target());
        n.put("parameters", e.parameters());
        n.put("remoteAddress", e.remoteAddress());
        n.put("status", e.status());
        try {
            return json.writeValueAsBytes(n);
        } catch (IOException ex) {
            throw new JournalException("an audit entry could not be encoded", ex);
        }
    }

    private static AuditEntry decode(JsonNode n) {
        return new AuditEntry(
                n.get("id").asText(),
                Instant.ofEpochMilli(n.get("at").asLong()),
                n.get("actor").asText(),
                text(n, "tenant"),
                n.get("action").asText(),
                text(n, "target"),
                n.get("parameters").asText(),
                n.get("remoteAddress").asText(),
                n.get("status").asInt());
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    @Override
    public void close() {
        tail.close();
    }
}
