package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.spi.Coordination.StoredSubscription;
import dev.keel.spi.JournalException;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.PauseKey;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * What the instances sharing a topic agree on, in the compacted one-partition topic {@code <topic>.meta}:
 * pauses, stored subscriptions, and lane leases. Its records carry the broker's append time, which is the
 * clock every instance shares.
 *
 * <p>Leases: {@code instance/<id>} is an instance's heartbeat (live until its append time plus its TTL) and
 * {@code lane/<n>} names the lane's owner. A lane is granted by writing its record while it is free (no owner,
 * or an owner whose heartbeat expired); when two instances race, the later record wins on every reader, and
 * the earlier writer sees that when it reads past its own record. The fencing token is the lane record's
 * offset plus one, which only grows, and compaction keeps it. Kafka fences the rest: whoever takes a lane
 * initialises the lane's transactional producer, so the previous owner's next commit fails; and an instance
 * starts a lane's producer only while the log says the lane is its own ({@link #stillHolds}), so one that lost a
 * lane never fences the new owner back.
 *
 * <p>Threads: the state below is guarded by the tail's lock (every method that reads it catches up first).
 */
final class MetaTopic implements LaneLeases, AutoCloseable {
    private static final String PAUSE = "pause";
    private static final String SUBSCRIPTION = "sub";
    private static final String LANE = "lane";
    private static final String INSTANCE = "instance";

    private final String topic;
    private final int lanes;
    private final Producer<byte[], byte[]> producer;
    private final StateCodec codec;
    private final Duration timeout;
    private final TopicTail tail;
    /** The lanes' transactional producers: a grant starts one (fencing the previous owner), a loss closes it. */
    private final LaneTransactions transactions;
    /** The instance this journal heartbeats for, once it has. */
    private volatile String self;

    // ---- the view, guarded by tail ----
    private final Map<PauseKey, Instant> pauses = new HashMap<>();
    private final Map<String, StoredSubscription> subscriptions = new TreeMap<>();
    private long subscriptionsRevision;
    private final String[] owners;
    /** Written by the fold under the lock; read without it by commits (a stale token only fails a commit). */
    private final AtomicLongArray tokens;

    private final Map<String, Long> instancesUntil = new HashMap<>();

    MetaTopic(
            String topic,
            int lanes,
            Map<String, Object> consumerConfig,
            Producer<byte[], byte[]> producer,
            StateCodec codec,
            Duration timeout,
            LaneTransactions transactions) {
        this.topic = topic;
        this.lanes = lanes;
        this.producer = producer;
        this.codec = codec;
        this.timeout = timeout;
        this.transactions = transactions;
        this.owners = new String[lanes];
        this.tokens = new AtomicLongArray(lanes);
        this.tail = new TopicTail(consumerConfig, topic, 1, timeout, this::fold);
        tail.catchUp();
    }

    private void fold(ConsumerRecord<byte[], byte[]> r) {
        List<String> key = Keys.parse(r.key());
        JsonNode value = r.value() == null ? null : codec.tree(r.value());
        switch (key.getFirst()) {
            case PAUSE -> {
                PauseKey k = PauseKey.parse(key.get(1));
                if (value == null) {
                    pauses.remove(k);
                } else {
                    pauses.put(k, Instant.parse(value.get("until").asText()));
                }
            }
            case SUBSCRIPTION -> {
                long revision = r.offset() + 1;
                subscriptionsRevision = Math.max(subscriptionsRevision, revision);
                if (value == null || value.path("deleted").asBoolean()) {
                    subscriptions.remove(key.get(1));
                } else {
                    subscriptions.put(
                            key.get(1),
                            new StoredSubscription(
                                    key.get(1), value.get("document").asText(), revision));
                }
            }
            case LANE -> {
                int lane = Integer.parseInt(key.get(1));
                if (lane < lanes) {
                    owners[lane] = value == null || value.get("owner").isNull()
                            ? null
                            : value.get("owner").asText();
                    tokens.set(lane, r.offset() + 1);
                }
            }
            case INSTANCE -> {
                if (value == null) {
                    instancesUntil.remove(key.get(1));
                } else {
                    instancesUntil.put(
                            key.get(1), r.timestamp() + value.get("ttlMillis").asLong());
                }
            }
            default -> {
                // A kind a newer version wrote: not ours to read.
            }
        }
    }

    // ---- pauses ----

    void pause(PauseKey key, Instant until) {
        ObjectNode v = null;
        if (until != null) {
            v = codec.object();
            v.put("until", until.toString());
        }
        write(Keys.of(PAUSE, key.storageKey()), v == null ? null : codec.bytes(v));
    }

    Map<PauseKey, Instant> pauses(Instant now) {
        tail.catchUp();
        tail.lock.lock();
        try {
            Map<PauseKey, Instant> out = new HashMap<>();
            pauses.forEach((k, until) -> {
                if (until.isAfter(now)) {
                    out.put(k, until);
                }
            });
            return out;
        } finally {
            tail.lock.unlock();
        }
    }

    // ---- stored subscriptions ----

    long saveSubscription(String key, String document) {
        ObjectNode v = codec.object();
        v.put("document", document);
        return write(Keys.of(SUBSCRIPTION, key), codec.bytes(v)).offset() + 1;
    }

    long deleteSubscription(String key) {
        tail.catchUp();
        tail.lock.lock();
        try {
            if (!subscriptions.containsKey(key)) {
                return 0;
            }
        } finally {
            tail.lock.unlock();
        }
        // A value, not a tombstone: compaction keeps it, so the revision it took is never forgotten.
        ObjectNode removed = codec.object();
        removed.put("deleted", true);
        return write(Keys.of(SUBSCRIPTION, key), codec.bytes(removed)).offset() + 1;
    }

    long subscriptionsRevision() {
        tail.catchUp();
        tail.lock.lock();
        try {
            return subscriptionsRevision;
        } finally {
            tail.lock.unlock();
        }
    }

    List<StoredSubscription> subscriptions() {
        tail.catchUp();
        tail.lock.lock();
        try {
            return List.copyOf(subscriptions.values());
        } finally {
            tail.lock.unlock();
        }
    }

    // ---- leases ----

    @Override
    public Held heartbeat(String instance, Duration ttl) {
        ObjectNode beat = codec.object();
        beat.put("ttlMillis", ttl.toMillis());
        RecordMetadata at = write(Keys.of(INSTANCE, instance), codec.bytes(beat));
        long now = at.timestamp();
        List<Integer> claims = new ArrayList<>();
        int fair;
        tail.lock.lock();
        try {
            int live = 0;
            for (long until : instancesUntil.values()) {
                if (until > now) {
                    live++;
                }
            }
            fair = (int) Math.ceil(lanes / (double) Math.max(1, live));
            int held = 0;
            for (int lane = 0; lane < lanes; lane++) {
                if (instance.equals(owners[lane])) {
                    held++;
                }
            }
            for (int lane = 0; lane < lanes && held + claims.size() < fair; lane++) {
                String owner = owners[lane];
                if (owner == null || instancesUntil.getOrDefault(owner, 0L) <= now) {
                    claims.add(lane);
                }
            }
        } finally {
            tail.lock.unlock();
        }
        self = instance;
        long last = -1;
        for (int lane : claims) {
            ObjectNode v = codec.object();
            v.put("owner", instance);
            last = write(Keys.of(LANE, Integer.toString(lane)), codec.bytes(v)).offset();
        }
        if (last >= 0) {
            tail.catchUpTo(0, last);
        }
        // Start the producers of the lanes the log gave this instance, together: each fences the previous owner.
        List<Integer> won = new ArrayList<>();
        for (int lane : claims) {
            if (instance.equals(owner(lane))) {
                won.add(lane);
            }
        }
        transactions.takeOver(won);
        // Two instances may both have claimed a lane and started its producer: the log says which one has it, so
        // read it again after the producers started, and report only what is still this instance's.
        tail.catchUp();
        Map<Integer, Long> held = new TreeMap<>();
        tail.lock.lock();
        try {
            for (int lane = 0; lane < lanes; lane++) {
                if (instance.equals(owners[lane])) {
                    held.put(lane, tokens.get(lane));
                }
            }
        } finally {
            tail.lock.unlock();
        }
        for (int lane = 0; lane < lanes; lane++) {
            if (!held.containsKey(lane)) {
                transactions.retire(lane);
            }
        }
        return new Held(held, fair);
    }

    private String owner(int lane) {
        tail.lock.lock();
        try {
            return owners[lane];
        } finally {
            tail.lock.unlock();
        }
    }

    /**
     * Whether the lane is still this instance's under the token, after reading the log to its end: asked before a
     * lane's producer is started for a commit, so that an instance that lost a lane never fences its new owner.
     */
    boolean stillHolds(int lane, long fence) {
        tail.catchUp();
        String me = self;
        return me != null && me.equals(owner(lane)) && tokens.get(lane) == fence;
    }

    @Override
    public void release(String instance, Collection<Integer> released) {
        tail.catchUp();
        for (int lane : released) {
            boolean mine;
            tail.lock.lock();
            try {
                mine = lane < lanes && instance.equals(owners[lane]);
            } finally {
                tail.lock.unlock();
            }
            if (mine) {
                ObjectNode v = codec.object();
                v.putNull("owner");
                write(Keys.of(LANE, Integer.toString(lane)), codec.bytes(v));
                transactions.retire(lane);
            }
        }
        tail.catchUp();
    }

    /** The lane's fencing token as this instance last read it. */
    long token(int lane) {
        return tokens.get(lane);
    }

    /** Writes a record, waits for the broker's acknowledgement, and folds the view up to it. */
    private RecordMetadata write(byte[] key, byte[] value) {
        try {
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, 0, key, value))
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            tail.catchUpTo(0, m.offset());
            return m;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while writing to " + topic, e);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new JournalException("writing to " + topic + " failed: " + cause, cause);
        }
    }

    @Override
    public void close() {
        String me = self;
        if (me != null) {
            try {
                // Leave no heartbeat of an instance that is gone: the others count live instances by them.
                producer.send(new ProducerRecord<>(topic, 0, Keys.of(INSTANCE, me), null));
            } catch (RuntimeException ignored) {
                // the broker may be gone too; the heartbeat expires by itself
            }
        }
        tail.close();
    }
}
