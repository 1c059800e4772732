package dev.keel.kafka;

import dev.keel.spi.Commit;
import dev.keel.spi.JournalException;
import dev.keel.spi.LeaseLostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TimeoutException;

/**
 * One transactional producer per lane, with the transactional id {@code keel-<topic>-lane-<n>} that every
 * instance shares: a {@link Commit} is one Kafka transaction over the lane's partitions of the state and
 * dead-letter topics, with the subscription's cursor committed as its consumer group's offset in the same
 * transaction. Whoever initialises a lane's producer fences every earlier one, so an instance that lost a lane
 * cannot commit for it any more: its commit fails with {@link LeaseLostException}. A fenced producer is started
 * again only while the lease log still gives the lane to this instance under the commit's token ({@link
 * Ownership}), so a stale instance never fences the owner back.
 *
 * <p>Threads: a lane's producer is used and replaced under the lane's lock; commits of one lane are serialised.
 * A producer is started (which waits for the broker) outside the lock and swapped in.
 */
final class LaneTransactions implements AutoCloseable {
    /** How commits learn whether a lane is still this instance's; set once the lease log exists. */
    interface Ownership {
        boolean stillHolds(int lane, long fence);
    }

    private static final int COMMIT_TRIES = 3;

    private final String topic;
    private final Map<String, Object> producerConfig;
    private final KafkaProducer<byte[], byte[]>[] producers;
    private final ReentrantLock[] locks;
    private volatile Ownership ownership = (lane, fence) -> false;

    @SuppressWarnings("unchecked")
    LaneTransactions(String topic, int lanes, Map<String, Object> producerConfig) {
        this.topic = topic;
        this.producerConfig = producerConfig;
        this.producers = new KafkaProducer[lanes];
        this.locks = new ReentrantLock[lanes];
        for (int i = 0; i < lanes; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    void ownership(Ownership value) {
        this.ownership = value;
    }

    /** The consumer group whose offsets are a subscription's cursors. */
    String group(String subscription) {
        return "keel." + topic + "." + subscription;
    }

    /** Starts the lanes' producers afresh, all at once, fencing every earlier one (this instance's or another's). */
    void takeOver(Collection<Integer> lanes) {
        List<Thread> starting = new ArrayList<>();
        List<RuntimeException> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int lane : lanes) {
            starting.add(Thread.ofVirtual().name("keel-kafka-takeover-" + lane).start(() -> {
                try {
                    install(lane, start(lane));
                } catch (RuntimeException e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : starting) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new JournalException("interrupted while taking lanes over", e);
            }
        }
        if (!failures.isEmpty()) {
            throw failures.getFirst();
        }
    }

    private void install(int lane, KafkaProducer<byte[], byte[]> p) {
        locks[lane].lock();
        try {
            closeQuietly(lane);
            producers[lane] = p;
        } finally {
            locks[lane].unlock();
        }
    }

    /** Closes the lane's producer, if any: the lane was released or lost. */
    void retire(int lane) {
        locks[lane].lock();
        try {
            closeQuietly(lane);
        } finally {
            locks[lane].unlock();
        }
    }

    private KafkaProducer<byte[], byte[]> start(int lane) {
        Map<String, Object> config = new HashMap<>(producerConfig);
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "keel-" + topic + "-lane-" + lane);
        KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(config);
        try {
            p.initTransactions();
        } catch (KafkaException e) {
            p.close(Duration.ZERO);
            throw new JournalException("lane " + lane + " of " + topic + " could not start its transactions: " + e, e);
        }
        return p;
    }

    /**
     * Writes the records and the cursor in one transaction.
     *
     * @param currentToken the lane's token as this instance knows it, for the message of a lost lease
     * @return the offsets of the records, in order
     * @throws LeaseLostException when another instance holds the lane now
     * @throws JournalException when the commit failed; when its outcome is unknown (the broker stopped answering
     *     during the commit), the message says so, and the runtime delivers the passes again
     */
    List<Long> commit(Commit c, List<ProducerRecord<byte[], byte[]>> records, long currentToken) {
        int lane = c.lane();
        locks[lane].lock();
        try {
            for (int attempt = 0; ; attempt++) {
                KafkaProducer<byte[], byte[]> p = producers[lane];
                if (p == null) {
                    if (c.fence() != Commit.NO_FENCE && !ownership.stillHolds(lane, c.fence())) {
                        throw new LeaseLostException(lane, c.fence(), currentToken);
                    }
                    p = start(lane);
                    producers[lane] = p;
                    if (c.fence() != Commit.NO_FENCE && !ownership.stillHolds(lane, c.fence())) {
                        closeQuietly(lane); // another instance took it while this producer started
                        throw new LeaseLostException(lane, c.fence(), currentToken);
                    }
                }
                try {
                    return inTransaction(p, c, records);
                } catch (ProducerFencedException | InvalidProducerEpochException fenced) {
                    closeQuietly(lane);
                    // Fenced by an instance that started the producer and then found the lane is not its own: if
                    // the lease log still gives the lane to this instance, start again once and commit.
                    if (c.fence() != Commit.NO_FENCE && (attempt > 0 || !ownership.stillHolds(lane, c.fence()))) {
                        throw new LeaseLostException(lane, c.fence(), currentToken);
                    }
                    if (attempt > 0 && c.fence() == Commit.NO_FENCE) {
                        throw new JournalException(
                                "lane " + lane + " of " + topic
                                        + " is committed by another instance at the same time; give it a lease",
                                fenced);
                    }
                }
            }
        } finally {
            locks[lane].unlock();
        }
    }

    private List<Long> inTransaction(
            KafkaProducer<byte[], byte[]> p, Commit c, List<ProducerRecord<byte[], byte[]>> records) {
        int lane = c.lane();
        try {
            p.beginTransaction();
            List<Future<RecordMetadata>> sent = new ArrayList<>(records.size());
            for (ProducerRecord<byte[], byte[]> r : records) {
                sent.add(p.send(r));
            }
            if (c.cursor() != Commit.UNCHANGED) {
                p.sendOffsetsToTransaction(
                        Map.of(new TopicPartition(topic, lane), new OffsetAndMetadata(c.cursor())),
                        new ConsumerGroupMetadata(group(c.subscription())));
            }
            commitWithRetries(p, lane);
            List<Long> offsets = new ArrayList<>(sent.size());
            for (Future<RecordMetadata> f : sent) {
                offsets.add(f.get().offset()); // complete: the commit flushed them
            }
            return offsets;
        } catch (ProducerFencedException | InvalidProducerEpochException fenced) {
            throw fenced;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted after committing lane " + lane, e);
        } catch (ExecutionException | KafkaException e) {
            try {
                p.abortTransaction();
            } catch (KafkaException abortFailed) {
                closeQuietly(lane);
            }
            throw new JournalException(
                    "the outcomes of " + c.subscription() + " on lane " + lane + " could not be committed: "
                            + e.getMessage(),
                    e);
        }
    }

    /** Commits, retrying a commit the broker did not answer in time (Kafka allows that); gives up after a few. */
    private void commitWithRetries(KafkaProducer<byte[], byte[]> p, int lane) {
        for (int attempt = 1; ; attempt++) {
            try {
                p.commitTransaction();
                return;
            } catch (TimeoutException e) {
                if (attempt == COMMIT_TRIES) {
                    closeQuietly(lane);
                    throw new JournalException(
                            "the commit of lane " + lane + " of " + topic + " timed out " + COMMIT_TRIES
                                    + " times; its outcome is unknown, and its deliveries will run again",
                            e);
                }
            }
        }
    }

    private void closeQuietly(int lane) {
        KafkaProducer<byte[], byte[]> p = producers[lane];
        producers[lane] = null;
        if (p != null) {
            try {
                p.close(Duration.ZERO);
            } catch (KafkaException ignored) {
                // closing a fenced producer may complain; it is gone either way
            }
        }
    }

    @Override
    public void close() {
        for (int lane = 0; lane < producers.length; lane++) {
            retire(lane);
        }
    }
}
