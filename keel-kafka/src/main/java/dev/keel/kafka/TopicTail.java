package dev.keel.kafka;

import dev.keel.spi.JournalException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads one of Keel's own topics from the beginning and hands every committed record, in order per partition,
 * to a fold that keeps a view of it (pending deliveries, dead letters, coordination records).
 *
 * <p>Threads: the consumer and the fold run under {@link #lock}, taken by whichever thread asks the view to
 * {@link #catchUp}; the views guard their state with the same lock. It is a {@link ReentrantLock}, not a monitor,
 * because catching up waits for the broker and lane runners are virtual threads.
 *
 * <p>A record the fold cannot read (not written by Keel, or by a newer version) is logged and skipped: it never
 * stops the rest of the topic from being read.
 */
final class TopicTail implements AutoCloseable {
    private static final Duration POLL = Duration.ofMillis(50);

    private static final Logger log = LoggerFactory.getLogger(TopicTail.class);

    /** Guards the consumer, the overlay and the view the fold keeps. */
    final ReentrantLock lock = new ReentrantLock();

    private final KafkaConsumer<byte[], byte[]> consumer;
    /**
     * Reads the partitions' ends including records of transactions not yet complete (the high watermark), never
     * assigned: reading up to there waits out every transaction that had written before the call, committed or not.
     */
    private final KafkaConsumer<byte[], byte[]> ends;

    private final List<TopicPartition> partitions;
    private final Consumer<ConsumerRecord<byte[], byte[]>> fold;
    private final Duration timeout;
    /**
     * Records this process wrote and folded already, by (partition, key), with their offsets: the tail skips
     * older records of those keys until it reaches them, so the view never steps back to a state before this
     * process's own acknowledged writes (a committed transaction becomes readable a moment after it commits).
     */
    private final Map<Written, Long> overlay = new HashMap<>();

    private record Written(int partition, java.nio.ByteBuffer key) {}

    TopicTail(
            Map<String, Object> consumerConfig,
            String topic,
            int partitionCount,
            Duration timeout,
            Consumer<ConsumerRecord<byte[], byte[]>> fold) {
        // Catching up waits for the broker's answer: have it answer at once when nothing new is there.
        Map<String, Object> config = new HashMap<>(consumerConfig);
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 5);
        this.consumer = new KafkaConsumer<>(config);
        Map<String, Object> endsConfig = new HashMap<>(config);
        endsConfig.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        this.ends = new KafkaConsumer<>(endsConfig);
        this.partitions = new ArrayList<>();
        for (int p = 0; p < partitionCount; p++) {
            partitions.add(new TopicPartition(topic, p));
        }
        this.fold = fold;
        this.timeout = timeout;
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
    }

    /**
     * How long a reader waits for transactions that were open when it started before it settles for what is
     * committed: a live owner's transaction ends within milliseconds; a dead one's only when the lane is taken
     * over (which aborts it) or it times out, and a reader must not stall that long.
     */
    private static final Duration PATIENCE = Duration.ofSeconds(2);

    /**
     * Folds every record committed to the topic up to now, so that what this process or any other wrote and had
     * acknowledged (or committed) before the call is in the view afterwards: it reads up to the partitions' high
     * watermarks, past the end of every transaction open when it started, waiting for those at most {@link
     * #PATIENCE}, then up to what is committed.
     *
     * @throws JournalException when the broker does not answer in time
     */
    void catchUp() {
        catchUp(partitions);
    }

    /** {@link #catchUp()} for one partition (a lane's view). */
    void catchUp(int partition) {
        catchUp(List.of(partitions.get(partition)));
    }

    private void catchUp(List<TopicPartition> which) {
        lock.lock();
        try {
            try {
                Map<TopicPartition, Long> end = ends.endOffsets(which, timeout);
                if (!readTo(end, PATIENCE)) {
                    readTo(consumer.endOffsets(which, timeout), timeout); // the last stable offsets
                }
            } catch (KafkaException e) {
                throw new JournalException(
                        "reading Keel's topic " + partitions.getFirst().topic() + " failed: " + e.getMessage(), e);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Folds at least up to and including the record at {@code offset} of the partition. */
    void catchUpTo(int partition, long offset) {
        lock.lock();
        try {
            Map<TopicPartition, Long> end = new HashMap<>();
            end.put(partitions.get(partition), offset + 1);
            try {
                readTo(end, timeout);
            } catch (KafkaException e) {
                throw new JournalException(
                        "reading Keel's topic " + partitions.getFirst().topic() + " failed: " + e.getMessage(), e);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reads until every partition's position reaches its end; false when {@code patience} (shorter than the
     * timeout) ran out first.
     *
     * @throws JournalException when the timeout ran out first
     */
    private boolean readTo(Map<TopicPartition, Long> end, Duration patience) {
        long deadline = System.nanoTime() + patience.toNanos();
        while (behind(end)) {
            if (System.nanoTime() - deadline > 0) {
                if (patience.compareTo(timeout) < 0) {
                    return false;
                }
                throw new JournalException(
                        "Keel's topic " + partitions.getFirst().topic() + " could not be read to its end within "
                                + timeout.toSeconds() + " s; is the broker reachable?");
            }
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                if (!overlay.isEmpty()) {
                    Written w = new Written(r.partition(), java.nio.ByteBuffer.wrap(r.key()));
                    Long mine = overlay.get(w);
                    if (mine != null) {
                        if (r.offset() < mine) {
                            continue;
                        }
                        overlay.remove(w);
                    }
                }
                foldSafely(r);
            }
        }
        return true;
    }

    /**
     * Folds records this process wrote and the broker acknowledged (or committed), at their offsets, before the
     * tail reads them.
     */
    void applied(List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records, List<Long> offsets) {
        lock.lock();
        try {
            for (int i = 0; i < records.size(); i++) {
                var r = records.get(i);
                long offset = offsets.get(i);
                int partition = r.partition();
                if (consumer.position(new TopicPartition(r.topic(), partition), timeout) > offset) {
                    continue; // read already
                }
                overlay.put(new Written(partition, java.nio.ByteBuffer.wrap(r.key())), offset);
                foldSafely(new ConsumerRecord<>(r.topic(), partition, offset, r.key(), r.value()));
            }
        } finally {
            lock.unlock();
        }
    }

    private void foldSafely(ConsumerRecord<byte[], byte[]> r) {
        try {
            fold.accept(r);
        } catch (RuntimeException e) {
            log.error(
                    "skipped record {}-{}@{}, which Keel cannot read: {}",
                    r.topic(),
                    r.partition(),
                    r.offset(),
                    e.toString());
        }
    }

    private boolean behind(Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey(), timeout) < e.getValue()) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        lock.lock();
        try {
            consumer.close(Duration.ofSeconds(1));
            ends.close(Duration.ofSeconds(1));
        } finally {
            lock.unlock();
        }
    }
}
