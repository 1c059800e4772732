package dev.keel.kafka;

import dev.keel.Event;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.JournalException;
import dev.keel.spi.LogRecord;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetOutOfRangeException;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the log topic: lane {@code n} is partition {@code n}, and an event's sequence is its offset plus one
 * (the log is written by an idempotent producer without transactions, so offsets have no gaps).
 *
 * <p>Each lane keeps its recent records in memory (what this process appended, once acknowledged, and what it
 * fetched), so that the subscriptions reading a lane at nearly the same place share one fetch, and events this
 * process emitted are delivered without one. The heads of the lanes are what this process appended or read,
 * and what a watcher thread learns from the broker every {@value #WATCH_MILLIS} ms, so that events other
 * instances append reach this one's runners.
 *
 * <p>Threads: a lane's consumer is used under the lane's lock by whichever thread reads; the caches and
 * heads are concurrent; the watcher thread ({@code keel-kafka-heads}) owns its own consumer.
 */
final class LogReader implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LogReader.class);
    static final int WATCH_MILLIS = 100;
    /** Records kept per lane; a power of two. */
    private static final int CACHED = 4_096;
    /** The largest record kept in a ring: 4,096 of them make at most 16 MiB of records per lane. */
    private static final int CACHED_RECORD_BYTES = 4_096;

    /**
     * The bytes of an unreadable record kept in its dead letters, at most: a quarter of the record limit (base64
     * in a JSON dead letter, they stay well under it), and {@link EnvelopeCodec#UNREADABLE_BYTES_KEPT}.
     */
    private final int unreadableBytesKept;

    /** How long a fetch waits for records before it asks whether any follow. */
    private static final Duration FETCH_WAIT = Duration.ofMillis(500);

    private final String topic;
    private final int lanes;
    private final Map<String, Object> consumerConfig;
    private final Duration timeout;
    private final EnvelopeCodec codec;
    private final AtomicLongArray heads;
    /** Per lane, a ring of recent records indexed by sequence: a slot holds the latest record that maps to it. */
    private final AtomicReferenceArray<LogRecord>[] recent;

    private final ReentrantLock[] locks;
    /** Per lane, the highest sequence the broker deleted: the ring never serves one at or below it. */
    private final AtomicLongArray prunedUpTo;

    private final KafkaConsumer<byte[], byte[]>[] consumers;
    private final Thread watcher;
    private volatile boolean closed;

    @SuppressWarnings("unchecked")
    LogReader(
            String topic,
            int lanes,
            Map<String, Object> consumerConfig,
            EnvelopeCodec codec,
            Duration timeout,
            int maxRecordBytes) {
        this.unreadableBytesKept = Math.min(EnvelopeCodec.UNREADABLE_BYTES_KEPT, maxRecordBytes / 4);
        this.topic = topic;
        this.lanes = lanes;
        this.consumerConfig = consumerConfig;
        this.timeout = timeout;
        this.codec = codec;
        this.heads = new AtomicLongArray(lanes);
        this.recent = new AtomicReferenceArray[lanes];
        this.locks = new ReentrantLock[lanes];
        this.prunedUpTo = new AtomicLongArray(lanes);
        this.consumers = new KafkaConsumer[lanes];
        for (int i = 0; i < lanes; i++) {
            recent[i] = new AtomicReferenceArray<>(CACHED);
            locks[i] = new ReentrantLock();
        }
        KafkaConsumer<byte[], byte[]> ends = new KafkaConsumer<>(consumerConfig);
        List<TopicPartition> all = partitions();
        ends.endOffsets(all, timeout).forEach((tp, end) -> heads.set(tp.partition(), end));
        this.watcher = Thread.ofPlatform().name("keel-kafka-heads").daemon().unstarted(() -> watch(ends, all));
        watcher.start();
    }

    private List<TopicPartition> partitions() {
        List<TopicPartition> all = new ArrayList<>();
        for (int p = 0; p < lanes; p++) {
            all.add(new TopicPartition(topic, p));
        }
        return all;
    }

    private void watch(KafkaConsumer<byte[], byte[]> ends, List<TopicPartition> all) {
        try {
            while (!closed) {
                try {
                    ends.endOffsets(all, Duration.ofSeconds(5)).forEach((tp, end) -> advance(tp.partition(), end));
                } catch (KafkaException e) {
                    log.debug("the log's end offsets could not be read; trying again", e);
                }
                Thread.sleep(WATCH_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            ends.close(Duration.ofSeconds(1));
        }
    }

    private void advance(int lane, long head) {
        heads.accumulateAndGet(lane, head, Math::max);
    }

    long head(int lane) {
        check(lane);
        return heads.get(lane);
    }

    /**
     * Records an acknowledged append of an event whose record has {@code bytes} bytes: the lane's head moves, and
     * the record is served from memory.
     */
    void appended(int lane, long sequence, Event<?> event, int bytes) {
        cache(new LogRecord(lane, sequence, event), bytes);
        advance(lane, sequence);
    }

    /**
     * Keeps a record in the lane's ring unless it is large: the ring is bounded by count, so its size in memory is
     * bounded by {@link #CACHED} times {@link #CACHED_RECORD_BYTES}; a large event is read from the broker.
     */
    private void cache(LogRecord r, int bytes) {
        if (bytes <= CACHED_RECORD_BYTES) {
            recent[r.lane()].set((int) (r.sequence() & (CACHED - 1)), r);
        }
    }

    List<LogRecord> read(int lane, long after, int max) {
        check(lane);
        List<LogRecord> cached = fromCache(lane, after, max);
        if (!cached.isEmpty() || heads.get(lane) <= after) {
            return cached;
        }
        // One deadline for the wait for the lane and the fetch: readers queued behind a slow fetch do not each
        // add a timeout of their own.
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            if (!locks[lane].tryLock(timeout.toNanos(), java.util.concurrent.TimeUnit.NANOSECONDS)) {
                throw new JournalException("lane " + lane + " of " + topic + " stayed busy with another read for "
                        + timeout.toSeconds() + " s; is the broker reachable?");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while waiting to read lane " + lane, e);
        }
        try {
            cached = fromCache(lane, after, max); // another reader may have fetched it meanwhile
            if (!cached.isEmpty()) {
                return cached;
            }
            return fetch(lane, after, max, deadline);
        } catch (KafkaException e) {
            throw new JournalException("reading lane " + lane + " of " + topic + " failed: " + e.getMessage(), e);
        } finally {
            locks[lane].unlock();
        }
    }

    private List<LogRecord> fromCache(int lane, long after, int max) {
        AtomicReferenceArray<LogRecord> ring = recent[lane];
        long floor = prunedUpTo.get(lane);
        List<LogRecord> out = new ArrayList<>();
        for (long next = after + 1; out.size() < max; next++) {
            LogRecord r = ring.get((int) (next & (CACHED - 1)));
            if (r == null || r.sequence() != next || next <= floor) {
                break;
            }
            out.add(r);
        }
        return out;
    }

    private List<LogRecord> fetch(int lane, long after, int max, long deadline) {
        if (closed) {
            throw closedError(lane);
        }
        KafkaConsumer<byte[], byte[]> c = consumers[lane];
        TopicPartition tp = new TopicPartition(topic, lane);
        if (c == null) {
            c = new KafkaConsumer<>(consumerConfig);
            c.assign(List.of(tp));
            consumers[lane] = c;
            c.seek(tp, after);
        } else if (c.position(tp) != after) {
            c.seek(tp, after);
        }
        // read() fetches only below the lane's head, so records follow: no need to ask for the end first. The
        // consumer never resets its position by itself (auto.offset.reset=none); a position out of range is
        // handled below.
        // Empty means that nothing follows (or that what followed was pruned): a reader takes an empty page for
        // that, so a slow fetch must not return one. Wait for records until the position is the partition's end,
        // and fail after the timeout rather than answer empty.
        long check = System.nanoTime() + FETCH_WAIT.toNanos();
        List<LogRecord> out = new ArrayList<>();
        while (out.isEmpty() && !closed) {
            ConsumerRecords<byte[], byte[]> polled;
            try {
                polled = c.poll(Duration.ofMillis(50));
            } catch (OffsetOutOfRangeException e) {
                long start = c.beginningOffsets(List.of(tp), left(deadline)).get(tp);
                long end = c.endOffsets(List.of(tp), left(deadline)).get(tp);
                if (after >= end) {
                    // The broker lost acknowledged records (an unclean leader election, a restored disk):
                    // nothing follows, and the head comes down to the broker's end, so that no reader skips
                    // ahead to a head that is not there.
                    lower(lane, end);
                    log.warn(
                            "lane {} of {} ends at offset {}, below records this instance saw acknowledged: the"
                                    + " broker lost them, and events appended there again may be passed over by"
                                    + " subscriptions that had read past it",
                            lane,
                            topic,
                            end);
                    return out;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new JournalException("lane " + lane + " of " + topic + " could not be read past " + after
                            + " within " + timeout.toSeconds() + " s: its position stays out of range");
                }
                c.seek(tp, Math.max(start, after)); // below the start: retention deleted them; read on from it
                continue;
            }
            for (ConsumerRecord<byte[], byte[]> r : polled) {
                LogRecord record = new LogRecord(lane, r.offset() + 1, decode(r));
                cache(record, r.serializedValueSize());
                advance(lane, record.sequence());
                if (record.sequence() > after && out.size() < max) {
                    out.add(record);
                }
            }
            if (out.isEmpty() && System.nanoTime() - check > 0) {
                long end = c.endOffsets(List.of(tp), left(deadline)).get(tp);
                if (c.position(tp, left(deadline)) >= end) {
                    lower(lane, end); // the head above the end only after the broker lost records
                    return out; // at the end: nothing follows
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new JournalException("lane " + lane + " of " + topic + " could not be read past " + after
                            + " within " + timeout.toSeconds() + " s; is the broker reachable?");
                }
                check = System.nanoTime() + FETCH_WAIT.toNanos();
            }
        }
        if (out.isEmpty()) {
            throw closedError(lane); // closed while waiting: not an empty page, which would mean nothing follows
        }
        return out;
    }

    /**
     * Brings the lane's head down to the broker's end, and forgets the recent records above it: only after the
     * broker lost acknowledged records. A late acknowledgement may raise it again; the next fetch lowers it.
     */
    private void lower(int lane, long end) {
        long head = heads.get(lane);
        while (head > end && !heads.compareAndSet(lane, head, end)) {
            head = heads.get(lane);
        }
        AtomicReferenceArray<LogRecord> ring = recent[lane];
        for (long seq = end + 1; seq <= head && seq <= end + CACHED; seq++) {
            int slot = (int) (seq & (CACHED - 1));
            LogRecord r = ring.get(slot);
            if (r != null && r.sequence() > end) {
                ring.compareAndSet(slot, r, null);
            }
        }
    }

    private JournalException closedError(int lane) {
        return new JournalException("the reader of lane " + lane + " of " + topic + " is closed");
    }

    /** What is left of the deadline, at least a millisecond. */
    private static Duration left(long deadline) {
        return Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime()));
    }

    private Event<?> decode(ConsumerRecord<byte[], byte[]> r) {
        try {
            return codec.read(r.value());
        } catch (RuntimeException e) {
            // Never block the lane on a record that cannot be read: hand it on as bytes, under the type every
            // subscription dead-letters at once.
            log.warn(
                    "record {}-{}@{} ({} bytes) is not a Keel event ({}); every subscription dead-letters it with"
                            + " its bytes (the first {} at most)",
                    topic,
                    r.partition(),
                    r.offset(),
                    r.serializedValueSize(),
                    e.getMessage(),
                    unreadableBytesKept);
            // Its dead letters must fit the commit's records (base64 and JSON on top): the record's place says
            // where the rest is.
            return EnvelopeCodec.unreadable(
                    r.value(),
                    unreadableBytesKept,
                    topic + "-" + r.partition() + "-" + r.offset(),
                    Instant.ofEpochMilli(r.timestamp()));
        }
    }

    /** Forgets cached records below {@code sequence} (the broker deleted them). */
    void pruned(int lane, long sequence) {
        prunedUpTo.accumulateAndGet(lane, sequence, Math::max);
    }

    private void check(int lane) {
        if (lane < 0 || lane >= lanes) {
            throw new JournalException(
                    "lane " + lane + " does not exist: the log " + topic + " has " + lanes + " lanes");
        }
    }

    @Override
    public void close() {
        closed = true;
        watcher.interrupt();
        for (int i = 0; i < lanes; i++) {
            locks[i].lock();
            try {
                if (consumers[i] != null) {
                    consumers[i].close(Duration.ofSeconds(1));
                    consumers[i] = null;
                }
            } finally {
                locks[i].unlock();
            }
        }
    }
}
