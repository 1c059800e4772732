package dev.keel.bench;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The plainest Kafka consumer that commits what it processed: one consumer in a group polling all partitions,
 * {@code commitSync} after each poll; beside it an idempotent producer ({@code acks=all}) with 5,000 records in
 * flight at most, as Keel's probe emits.
 */
final class PlainConsumerPeer {
    private PlainConsumerPeer() {}

    static Map<String, Object> producerConfig(String bootstrap) {
        return Map.of(
                "bootstrap.servers",
                bootstrap,
                "key.serializer",
                StringSerializer.class,
                "value.serializer",
                StringSerializer.class,
                "acks",
                "all",
                "enable.idempotence",
                true,
                "linger.ms",
                1,
                "batch.size",
                256 * 1024);
    }

    static Map<String, Object> consumerConfig(String bootstrap, String group) {
        return Map.of(
                "bootstrap.servers",
                bootstrap,
                "group.id",
                group,
                "key.deserializer",
                StringDeserializer.class,
                "value.deserializer",
                StringDeserializer.class,
                "enable.auto.commit",
                false,
                "auto.offset.reset",
                "earliest");
    }

    /** Produces {@code events} records to the topic with 5,000 in flight at most. */
    static Thread produce(String bootstrap, String topic, int events) {
        return Thread.ofPlatform().name("peer-producer").start(() -> {
            Semaphore window = new Semaphore(5_000);
            try (KafkaProducer<String, String> p = new KafkaProducer<>(producerConfig(bootstrap))) {
                for (int i = 0; i < events; i++) {
                    window.acquire();
                    p.send(
                            new ProducerRecord<>(topic, "key-" + (i % KafkaProbe.KEYS), Integer.toString(i)),
                            (m, e) -> window.release());
                }
                p.flush();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    static double run(String bootstrap, String topic, int events) throws Exception {
        AtomicLong consumed = new AtomicLong();
        long start;
        Thread producer;
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerConfig(bootstrap, topic + "-plain"))) {
            c.subscribe(List.of(topic));
            // The clock starts once the consumer holds its partitions, as in Keel's rounds: not with the group join.
            while (c.assignment().size() < KafkaProbe.PARTITIONS) {
                c.poll(Duration.ofMillis(10));
            }
            start = System.nanoTime();
            producer = produce(bootstrap, topic, events);
            while (consumed.get() < events) {
                ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(100));
                if (!records.isEmpty()) {
                    records.forEach(r -> consumed.incrementAndGet());
                    c.commitSync();
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        producer.join();
        return events / seconds;
    }
}
