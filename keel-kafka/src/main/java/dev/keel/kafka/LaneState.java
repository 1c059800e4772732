package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.spi.Commit;
import dev.keel.spi.DeadLetterStore.ReprocessOrder;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The deliveries' state, in the compacted topic {@code <topic>.state} with one partition per lane: per
 * (subscription, lane) the cursor, the pending entries and the outcome counts, and the requests to reprocess
 * dead letters of the lane. The lane's owner writes a {@link Commit} as one Kafka transaction; a first cursor
 * and a reprocess request are single records any instance may write.
 *
 * <p>Keys: {@code cursor/<sub>}, {@code open/<sub>/<startAt>} (a first cursor: the earliest one counts, and
 * only while no cursor was committed; its value in the key keeps that true under compaction), {@code
 * pending/<sub>/<seq>}, {@code tally/<sub>} (running totals of the lane) and {@code reprocess/<dead letter id>}.
 *
 * <p>Threads: the view is guarded by the tail's lock; callers catch up before reading.
 */
final class LaneState implements AutoCloseable {
    static final String CURSOR = "cursor";
    static final String OPEN = "open";
    static final String PENDING = "pending";
    static final String TALLY = "tally";
    static final String REPROCESS = "reprocess";

    private final String topic;
    private final StateCodec codec;
    private final TopicTail tail;

    // ---- the view, guarded by tail ----
    private final Map<Integer, Map<String, SubscriptionLane>> lanes = new HashMap<>();
    private final Map<String, ReprocessOrder> reprocess = new LinkedHashMap<>();
    /**
     * The running tallies by lane and subscription, also readable without the lock: a commit adds to its own
     * lane's, which only its own commits and their folds change.
     */
    private final Map<String, Tally> tallies = new java.util.concurrent.ConcurrentHashMap<>();

    /** One subscription on one lane, as folded. */
    private static final class SubscriptionLane {
        Long cursor;
        Long opened;
        final TreeMap<Long, Pending> pending = new TreeMap<>();
        Tally tally = Tally.ZERO;
    }

    LaneState(
            String topic, int lanes, Map<String, Object> consumerConfig, StateCodec codec, java.time.Duration timeout) {
        this.topic = topic;
        this.codec = codec;
        this.tail = new TopicTail(consumerConfig, topic, lanes, timeout, this::fold);
        tail.catchUp();
    }

    TopicTail tail() {
        return tail;
    }

    private SubscriptionLane of(int lane, String sub) {
        return lanes.computeIfAbsent(lane, l -> new HashMap<>()).computeIfAbsent(sub, s -> new SubscriptionLane());
    }

    private void fold(ConsumerRecord<byte[], byte[]> r) {
        List<String> key = Keys.parse(r.key());
        int lane = r.partition();
        JsonNode v = r.value() == null ? null : codec.tree(r.value());
        switch (key.getFirst()) {
            case CURSOR ->
                of(lane, key.get(1)).cursor = v == null ? null : v.get("cursor").asLong();
            case OPEN -> {
                SubscriptionLane s = of(lane, key.get(1));
                if (v != null && s.opened == null) {
                    s.opened = v.get("cursor").asLong();
                }
            }
            case PENDING -> {
                SubscriptionLane s = of(lane, key.get(1));
                long seq = Long.parseLong(key.get(2));
                if (v == null) {
                    s.pending.remove(seq);
                } else {
                    s.pending.put(seq, codec.pending(v));
                }
            }
            case TALLY -> {
                Tally t = v == null
                        ? Tally.ZERO
                        : new Tally(
                                v.get("delivered").asLong(),
                                v.get("failedAttempts").asLong(),
                                v.get("retriesScheduled").asLong(),
                                v.get("deadLettered").asLong());
                of(lane, key.get(1)).tally = t;
                tallies.put(lane + String.valueOf(Keys.SEPARATOR) + key.get(1), t);
            }
            case REPROCESS -> {
                if (v == null) {
                    reprocess.remove(key.get(1));
                } else {
                    reprocess.putIfAbsent(
                            key.get(1),
                            new ReprocessOrder(
                                    key.get(1),
                                    v.get("subscription").asText(),
                                    lane,
                                    Instant.parse(v.get("requestedAt").asText())));
                }
            }
            default -> {
                // A kind a newer version wrote.
            }
        }
    }

    OptionalLong cursor(String sub, int lane) {
        tail.catchUp(lane);
        tail.lock.lock();
        try {
            SubscriptionLane s = lanes.getOrDefault(lane, Map.of()).get(sub);
            if (s == null) {
                return OptionalLong.empty();
            }
            if (s.cursor != null) {
                return OptionalLong.of(s.cursor);
            }
            return s.opened == null ? OptionalLong.empty() : OptionalLong.of(s.opened);
        } finally {
            tail.lock.unlock();
        }
    }

    /** The record that gives a subscription its first cursor, unless it has one by then. */
    ProducerRecord<byte[], byte[]> openCursor(String sub, int lane, long startAt) {
        ObjectNode v = codec.object();
        v.put("cursor", startAt);
        return new ProducerRecord<>(topic, lane, Keys.of(OPEN, sub, Long.toString(startAt)), codec.bytes(v));
    }

    List<Pending> pending(String sub, int lane) {
        tail.catchUp(lane);
        tail.lock.lock();
        try {
            SubscriptionLane s = lanes.getOrDefault(lane, Map.of()).get(sub);
            return s == null ? List.of() : List.copyOf(s.pending.values());
        } finally {
            tail.lock.unlock();
        }
    }

    Tally tally(String sub) {
        tail.catchUp();
        tail.lock.lock();
        try {
            Tally sum = Tally.ZERO;
            for (Map<String, SubscriptionLane> perSub : lanes.values()) {
                SubscriptionLane s = perSub.get(sub);
                if (s != null) {
                    sum = sum.plus(s.tally);
                }
            }
            return sum;
        } finally {
            tail.lock.unlock();
        }
    }

    /** The lane's running tally of the subscription plus the commit's, as the owner last read it. */
    private Tally tallyAfter(Commit c) {
        Tally before = tallies.get(c.lane() + String.valueOf(Keys.SEPARATOR) + c.subscription());
        return (before == null ? Tally.ZERO : before).plus(c.tally());
    }

    /** The records of a commit's state changes, to send in its transaction. */
    List<ProducerRecord<byte[], byte[]>> records(Commit c) {
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
        int lane = c.lane();
        String sub = c.subscription();
        if (c.cursor() != Commit.UNCHANGED) {
            ObjectNode v = codec.object();
            v.put("cursor", c.cursor());
            out.add(new ProducerRecord<>(topic, lane, Keys.of(CURSOR, sub), codec.bytes(v)));
        }
        for (long seq : c.removals()) {
            out.add(new ProducerRecord<>(topic, lane, Keys.of(PENDING, sub, Long.toString(seq)), null));
        }
        for (Pending p : c.upserts()) {
            out.add(new ProducerRecord<>(
                    topic, lane, Keys.of(PENDING, sub, Long.toString(p.sequence())), codec.pending(p)));
        }
        if (!c.tally().isZero()) {
            Tally t = tallyAfter(c);
            ObjectNode v = codec.object();
            v.put("delivered", t.delivered());
            v.put("failedAttempts", t.failedAttempts());
            v.put("retriesScheduled", t.retriesScheduled());
            v.put("deadLettered", t.deadLettered());
            out.add(new ProducerRecord<>(topic, lane, Keys.of(TALLY, sub), codec.bytes(v)));
        }
        for (String id : c.removedDeadLetters()) {
            out.add(reprocessDone(id, lane));
        }
        return out;
    }

    /**
     * Folds what a committed transaction wrote, so that the owner's next commit adds to the right totals
     * without a round trip; the tail reads the same records later and folds them again to the same result.
     */
    void applied(List<ProducerRecord<byte[], byte[]>> records, List<Long> offsets) {
        tail.applied(records, offsets);
    }

    ProducerRecord<byte[], byte[]> reprocessRequest(String deadLetterId, String sub, int lane, Instant at) {
        ObjectNode v = codec.object();
        v.put("subscription", sub);
        v.put("requestedAt", at.toString());
        return new ProducerRecord<>(topic, lane, Keys.of(REPROCESS, deadLetterId), codec.bytes(v));
    }

    ProducerRecord<byte[], byte[]> reprocessDone(String deadLetterId, int lane) {
        return new ProducerRecord<>(topic, lane, Keys.of(REPROCESS, deadLetterId), null);
    }

    boolean reprocessRequested(String deadLetterId) {
        tail.lock.lock();
        try {
            return reprocess.containsKey(deadLetterId);
        } finally {
            tail.lock.unlock();
        }
    }

    List<ReprocessOrder> reprocessOrders(int max) {
        tail.catchUp();
        tail.lock.lock();
        try {
            return reprocess.values().stream()
                    .sorted(Comparator.comparing(ReprocessOrder::requestedAt))
                    .limit(max)
                    .toList();
        } finally {
            tail.lock.unlock();
        }
    }

    @Override
    public void close() {
        tail.close();
    }
}
