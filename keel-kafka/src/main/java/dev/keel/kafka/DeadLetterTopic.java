package dev.keel.kafka;

import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Dead letters in the compacted topic {@code <topic>.dlq}, one partition per lane, keyed by the dead letter's
 * id: the value is the dead letter as JSON (the event, every failed attempt, the reason), and headers say
 * where it came from and why, for tools that read the topic without Keel. Deleting one writes a tombstone.
 *
 * <p>Threads: the view is guarded by the tail's lock; callers catch up before reading.
 */
final class DeadLetterTopic implements AutoCloseable {
    private final String topic;
    private final String logTopic;
    private final StateCodec codec;
    private final TopicTail tail;
    /** By id: ids grow with the time of dead-lettering (UUIDv7), so id order is that order. */
    private final ConcurrentSkipListMap<String, DeadLetter> byId = new ConcurrentSkipListMap<>();

    DeadLetterTopic(
            String topic,
            String logTopic,
            int lanes,
            Map<String, Object> consumerConfig,
            StateCodec codec,
            Duration timeout) {
        this.topic = topic;
        this.logTopic = logTopic;
        this.codec = codec;
        this.tail = new TopicTail(consumerConfig, topic, lanes, timeout, this::fold);
        tail.catchUp();
    }

    private void fold(ConsumerRecord<byte[], byte[]> r) {
        String id = new String(r.key(), StandardCharsets.UTF_8);
        if (r.value() == null) {
            byId.remove(id);
        } else {
            byId.put(id, codec.deadLetter(codec.tree(r.value())));
        }
    }

    TopicTail tail() {
        return tail;
    }

    /** The record of a dead letter, with headers naming its origin and its last error. */
    ProducerRecord<byte[], byte[]> record(DeadLetter d) {
        RecordHeaders h = new RecordHeaders();
        header(h, "keel_original_topic", logTopic);
        header(h, "keel_original_partition", Integer.toString(d.lane()));
        header(h, "keel_original_offset", Long.toString(d.sequence() - 1));
        header(h, "keel_subscription", d.subscription());
        header(h, "keel_attempts", Integer.toString(d.errors().size()));
        if (!d.errors().isEmpty()) {
            AttemptError first = d.errors().getFirst();
            AttemptError last = d.errors().getLast();
            header(h, "keel_error_class", last.errorType());
            header(h, "keel_error_message", last.message());
            header(h, "keel_first_failure", first.at().toString());
            header(h, "keel_last_failure", last.at().toString());
        }
        header(h, "keel_reason", d.reason());
        header(h, "keel_replay_count", Integer.toString(d.replayCount()));
        return new ProducerRecord<>(
                topic, d.lane(), null, d.id().getBytes(StandardCharsets.UTF_8), codec.deadLetter(d), h);
    }

    ProducerRecord<byte[], byte[]> tombstone(String id, int lane) {
        return new ProducerRecord<>(topic, lane, id.getBytes(StandardCharsets.UTF_8), null);
    }

    private static void header(RecordHeaders h, String name, String value) {
        if (value != null) {
            h.add(name, value.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Folds what a committed transaction or an acknowledged write stored. */
    void applied(List<ProducerRecord<byte[], byte[]>> records, List<Long> offsets) {
        tail.applied(records, offsets);
    }

    List<DeadLetter> query(DeadLetterQuery query) {
        tail.catchUp();
        return query.select(byId);
    }

    Optional<DeadLetter> get(String id) {
        tail.catchUp();
        return Optional.ofNullable(byId.get(id));
    }

    /** Every dead letter, as last read. */
    List<DeadLetter> all() {
        tail.catchUp();
        return List.copyOf(byId.values());
    }

    long count(String subscription) {
        tail.catchUp();
        if (subscription == null) {
            return byId.size();
        }
        return byId.values().stream()
                .filter(d -> d.subscription().equals(subscription))
                .count();
    }

    @Override
    public void close() {
        tail.close();
    }
}
