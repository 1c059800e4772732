package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.Lanes;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Dedup keys in the topic {@code <topic>.dedup}, whose records carry the broker's append time. Kafka has no
 * insert-if-absent, so a claim is a record and the log decides: every reader folds the claims of a key in
 * offset order, and the first claim that finds no live earlier one wins. A winner appends its event and then
 * records its position; a claim that never records one within {@link #CLAIM_TIMEOUT} (its instance died between
 * the two writes) stops counting, so the key can be claimed again. Windows are cut to the topic's retention, so
 * a claim is never deleted while it is live, and every reader decides every claim alike.
 *
 * <p>Threads: the view is guarded by the tail's lock.
 */
final class DedupClaims implements AutoCloseable {
    /**
     * How long a winning claim counts without a recorded position: longer than the winner may take to send its
     * event and then its position once it decided to ({@link #LATE_AFTER} plus two sends of at most the producer's
     * {@code max.block.ms} and delivery timeout each, 30 s and 20 s by default).
     */
    static final Duration CLAIM_TIMEOUT = Duration.ofSeconds(150);

    /** After this long since claiming, a winner appends nothing and voids its claim instead. */
    static final Duration LATE_AFTER = Duration.ofSeconds(30);

    private final String topic;
    private final int partitions;
    private final StateCodec codec;
    private final TopicTail tail;

    // ---- the view, guarded by tail ----
    private final Map<String, Claim> current = new HashMap<>();
    private final Map<String, Claim> winners = new HashMap<>();
    /** Verdicts on this process's claims: the claim that won (itself when it won). */
    private final Map<String, Claim> verdicts = new HashMap<>();

    private long lastSweep;

    /** A claim as folded. */
    static final class Claim {
        final String id;
        final String key;
        final String eventId;
        final long until;
        final long claimedAt;
        int lane = -1;
        long sequence;
        boolean voided;

        Claim(String id, String key, String eventId, long until, long claimedAt) {
            this.id = id;
            this.key = key;
            this.eventId = eventId;
            this.until = until;
            this.claimedAt = claimedAt;
        }

        boolean placed() {
            return sequence > 0;
        }

        boolean liveAt(long t) {
            return !voided && until > t && (placed() || t - claimedAt < CLAIM_TIMEOUT.toMillis());
        }
    }

    DedupClaims(String topic, int partitions, Map<String, Object> consumerConfig, StateCodec codec, Duration timeout) {
        this.topic = topic;
        this.partitions = partitions;
        this.codec = codec;
        this.tail = new TopicTail(consumerConfig, topic, partitions, timeout, this::fold);
        tail.catchUp();
    }

    /** A key as compared: its UTF-16 code units, so a key that is not well-formed text stays itself. */
    static String canonical(String dedupKey) {
        return Base64.getEncoder().encodeToString(dedupKey.getBytes(StandardCharsets.UTF_16BE));
    }

    int partitionOf(String canonicalKey) {
        return Lanes.of(canonicalKey, partitions);
    }

    ProducerRecord<byte[], byte[]> claim(String claimId, String canonicalKey, String eventId, long untilMillis) {
        ObjectNode v = codec.object();
        v.put("t", "claim");
        v.put("id", claimId);
        v.put("k", canonicalKey);
        v.put("e", eventId);
        v.put("until", untilMillis);
        return new ProducerRecord<>(
                topic, partitionOf(canonicalKey), canonicalKey.getBytes(StandardCharsets.UTF_8), codec.bytes(v));
    }

    ProducerRecord<byte[], byte[]> position(Claim winner, int lane, long sequence) {
        ObjectNode v = codec.object();
        v.put("t", "pos");
        v.put("id", winner.id);
        v.put("lane", lane);
        v.put("seq", sequence);
        return new ProducerRecord<>(
                topic, partitionOf(winner.key), winner.key.getBytes(StandardCharsets.UTF_8), codec.bytes(v));
    }

    ProducerRecord<byte[], byte[]> voided(Claim winner) {
        ObjectNode v = codec.object();
        v.put("t", "void");
        v.put("id", winner.id);
        return new ProducerRecord<>(
                topic, partitionOf(winner.key), winner.key.getBytes(StandardCharsets.UTF_8), codec.bytes(v));
    }

    /** Says that this process waits for the verdict on a claim it is about to write. */
    void expect(String claimId) {
        tail.lock.lock();
        try {
            verdicts.put(claimId, null);
        } finally {
            tail.lock.unlock();
        }
    }

    /** The claim that won against this process's claim (the claim itself when it won), once folded. */
    Claim verdict(String claimId) {
        tail.lock.lock();
        try {
            return verdicts.remove(claimId);
        } finally {
            tail.lock.unlock();
        }
    }

    /** Reads the claims up to the record at the offset of the partition. */
    void readTo(int partition, long offset) {
        tail.catchUpTo(partition, offset);
    }

    /** Reads every claim written so far. */
    void catchUp() {
        tail.catchUp();
    }

    /** Whether a winning claim has recorded its position or was voided, read under the view's lock. */
    State state(Claim c) {
        tail.lock.lock();
        try {
            return c.placed() ? State.PLACED : c.voided ? State.VOIDED : State.WAITING;
        } finally {
            tail.lock.unlock();
        }
    }

    enum State {
        PLACED,
        WAITING,
        VOIDED
    }

    private void fold(ConsumerRecord<byte[], byte[]> r) {
        JsonNode v = codec.tree(r.value());
        long t = r.timestamp();
        switch (v.path("t").asText()) {
            case "claim" -> {
                String key = v.get("k").asText();
                Claim c = new Claim(
                        v.get("id").asText(),
                        key,
                        v.get("e").asText(),
                        v.get("until").asLong(),
                        t);
                Claim cur = current.get(key);
                Claim won;
                if (cur != null && cur.liveAt(t)) {
                    won = cur;
                } else {
                    current.put(key, c);
                    winners.put(c.id, c);
                    won = c;
                }
                if (verdicts.containsKey(c.id)) {
                    verdicts.put(c.id, won);
                }
            }
            case "pos" -> {
                Claim c = winners.get(v.get("id").asText());
                if (c != null) {
                    c.lane = v.get("lane").asInt();
                    c.sequence = v.get("seq").asLong();
                }
            }
            case "void" -> {
                Claim c = winners.get(v.get("id").asText());
                if (c != null) {
                    c.voided = true;
                }
            }
            default -> {
                // A kind a newer version wrote.
            }
        }
        if (t - lastSweep > 10_000) {
            lastSweep = t;
            for (Iterator<Claim> it = current.values().iterator(); it.hasNext(); ) {
                Claim c = it.next();
                if (c.until <= t && (c.placed() || c.voided || t - c.claimedAt >= CLAIM_TIMEOUT.toMillis())) {
                    it.remove();
                    winners.remove(c.id);
                }
            }
        }
    }

    @Override
    public void close() {
        tail.close();
    }
}
