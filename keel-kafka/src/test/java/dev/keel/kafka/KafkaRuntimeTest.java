package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.spi.Journal;
import dev.keel.test.SharedRuntimeContract;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The runtime on a real broker: {@link SharedRuntimeContract} (parking, retries across restarts, two instances, dedup
 * order), and what is Kafka's own: dead letters in the .dlq topic, a record that is not an event.
 */
class KafkaRuntimeTest extends SharedRuntimeContract {
    private static final AtomicInteger TOPICS = new AtomicInteger();
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() throws Exception {
        broker.close();
    }

    /** A journal on the topic of that name, as another instance would open it. */
    @Override
    protected Journal journal(String topic) {
        return KafkaJournal.builder()
                .bootstrapServers(broker.bootstrapServers())
                .topic(topic)
                .replicationFactor(1)
                .build();
    }

    private static RetryPolicy retries(int attempts) {
        return RetryPolicy.builder()
                .maxAttempts(attempts)
                .initialDelay(Duration.ofMillis(100))
                .build();
    }

    @Test
    void shouldDeadLetterIntoTheDlqTopicWithHeadersAndReprocess() throws Exception {
        String topic = newStore();
        AtomicInteger calls = new AtomicInteger();
        Set<String> delivered = ConcurrentHashMap.newKeySet();
        Subscription sub = Subscription.builder("shipping")
                .types("parcel.*")
                .retry(retries(2))
                .handler(String.class, d -> {
                    if (calls.incrementAndGet() <= 2) {
                        throw new java.io.IOException("carrier refused");
                    }
                    delivered.add(d.data());
                })
                .build();
        try (Keel keel = keel(topic, sub)) {
            keel.start();
            keel.emit("parcel.sent", "p-1", "p-1").join();
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
            assertThat(d.errors()).hasSize(2);
            assertThat(d.lastErrorType()).isEqualTo("java.io.IOException");

            Map<String, String> headers = dlqHeaders(topic);
            assertThat(headers)
                    .containsEntry("keel_original_topic", topic)
                    .containsEntry("keel_original_partition", Integer.toString(d.lane()))
                    .containsEntry("keel_original_offset", Long.toString(d.sequence() - 1))
                    .containsEntry("keel_subscription", "shipping")
                    .containsEntry("keel_error_class", "java.io.IOException")
                    .containsEntry("keel_error_message", "carrier refused")
                    .containsEntry("keel_attempts", "2")
                    .containsKeys("keel_first_failure", "keel_last_failure");

            keel.deadLetters().reprocess(d.id());
            await().atMost(Duration.ofSeconds(30)).until(() -> delivered.contains("p-1"));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> keel.deadLetters().count("shipping") == 0);
        }
    }

    @Test
    void shouldDeadLetterARecordThatIsNotAnEventWithItsBytesAndDeliverWhatFollows() throws Exception {
        String topic = newStore();
        List<String> delivered = new CopyOnWriteArrayList<>();
        Subscription sub = Subscription.builder("shipping")
                .types("parcel.*")
                .handler(String.class, d -> delivered.add(d.data()))
                .build();
        try (Keel keel = keel(topic, sub)) {
            keel.start();
            int lane = dev.keel.Lanes.of("p-1", 4);
            keel.emit("parcel.sent", "p-1", "first").join();
            // Another writer puts a record that is not a Keel event into the log, in the lane of p-1.
            try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> other =
                    new org.apache.kafka.clients.producer.KafkaProducer<>(Map.of(
                            "bootstrap.servers",
                            broker.bootstrapServers(),
                            "key.serializer",
                            org.apache.kafka.common.serialization.ByteArraySerializer.class,
                            "value.serializer",
                            org.apache.kafka.common.serialization.ByteArraySerializer.class))) {
                other.send(new org.apache.kafka.clients.producer.ProducerRecord<>(
                                topic, lane, null, "{not json".getBytes(StandardCharsets.UTF_8)))
                        .get();
            }
            keel.emit("parcel.sent", "p-1", "second").join();

            await().atMost(Duration.ofSeconds(30)).until(() -> delivered.size() == 2);
            assertThat(delivered).containsExactly("first", "second");
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
            assertThat(d.event().type()).isEqualTo(dev.keel.spi.LogRecord.UNREADABLE_TYPE);
            assertThat(d.event().id()).isEqualTo(topic + "-" + lane + "-1");
            assertThat((byte[]) d.event().data())
                    .asString(StandardCharsets.UTF_8)
                    .isEqualTo("{not json");
            assertThat(d.reason()).contains("not a Keel event");
        }
    }

    private static Map<String, String> dlqHeaders(String topic) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Map.of(
                "bootstrap.servers",
                broker.bootstrapServers(),
                "key.deserializer",
                ByteArrayDeserializer.class,
                "value.deserializer",
                ByteArrayDeserializer.class,
                "isolation.level",
                "read_committed"))) {
            List<TopicPartition> parts = new ArrayList<>();
            for (int p = 0; p < 4; p++) {
                parts.add(new TopicPartition(topic + ".dlq", p));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<String, String> out = new HashMap<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (out.isEmpty() && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    r.headers().forEach(h -> out.put(h.key(), new String(h.value(), StandardCharsets.UTF_8)));
                }
            }
            return out;
        }
    }
}
