package dev.keel.kafka;

import dev.keel.spi.Commit;
import dev.keel.spi.JournalException;
import dev.keel.spi.LeaseLostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.LongSupplier;
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

/**
 * One transactional producer per lane, with the transactional id {@code keel-<topic>-lane-<n>} that every
 * instance shares: a {@link Commit} is one Kafka transaction over the lane's partitions of the state and
 * dead-letter topics, with the subscription's cursor committed as its consumer group's offset in the same
 * transaction. Whoever initialises a lane's producer fences every earlier one, so an instance that lost a lane
 * cannot commit for it any more: its commit fails with {@link LeaseLostException}.
 *
 * <p>Threads: a lane's producer is used under the lane's lock; commits of one lane are serialised.
 */
final class LaneTransactions implements AutoCloseable {
    private final String topic;
    private final Map<String, Object> producerConfig;
    private final Duration timeout;
    private final KafkaProducer<byte[], byte[]>[] producers;
    private final Object[] locks;

    @SuppressWarnings("unchecked")
    LaneTransactions(String topic, int lanes, Map<String, Object> producerConfig, Duration timeout) {
        this.topic = topic;
        this.producerConfig = producerConfig;
        this.timeout = timeout;
        this.producers = new KafkaProducer[lanes];
        this.locks = new Object[lanes];
        for (int i = 0; i < lanes; i++) {
            locks[i] = new Object();
        }
    }

    /** The consumer group whose offsets are a subscription's cursors. */
    String group(String subscription) {
        return "keel." + topic + "." + subscription;
    }

    /** Initialises the lane's producer afresh, fencing every earlier one (this instance's or another's). */
    void takeOver(int lane) {
        synchronized (locks[lane]) {
            closeQuietly(lane);
            producers[lane] = start(lane);
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
     */
    List<Long> commit(Commit c, List<ProducerRecord<byte[], byte[]>> records, LongSupplier currentToken) {
        int lane = c.lane();
        synchronized (locks[lane]) {
            for (int attempt = 0; ; attempt++) {
                KafkaProducer<byte[], byte[]> p = producers[lane];
                if (p == null) {
                    p = start(lane);
                    producers[lane] = p;
                }
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
                    p.commitTransaction();
                    List<Long> offsets = new ArrayList<>(sent.size());
                    for (Future<RecordMetadata> f : sent) {
                        offsets.add(f.get().offset()); // complete: the commit flushed them
                    }
                    return offsets;
                } catch (ProducerFencedException | InvalidProducerEpochException fenced) {
                    closeQuietly(lane);
                    if (c.fence() != Commit.NO_FENCE) {
                        throw new LeaseLostException(lane, c.fence(), currentToken.getAsLong());
                    }
                    if (attempt > 0) {
                        throw new JournalException(
                                "lane " + lane + " of " + topic
                                        + " is committed by another instance at the same time; give it a lease",
                                fenced);
                    }
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
            synchronized (locks[lane]) {
                closeQuietly(lane);
            }
        }
    }
}
