package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The relay from the SQLite journal to Kafka through a broker outage: 30 events before it, 40 during, 30 after;
 * every acknowledged event is published, in order per key, the relay reports itself degraded while the broker is
 * down and healthy again after.
 */
class KafkaRelayTest {
    @TempDir
    Path dir;

    private KafkaBroker broker;
    /** What the topic holds, per key: the CloudEvents ids in the order they were read. */
    private final Map<String, List<String>> published = new ConcurrentHashMap<>();

    private final Map<String, String> contentTypes = new ConcurrentHashMap<>();
    private final AtomicBoolean reading = new AtomicBoolean(true);
    private Thread reader;

    @BeforeEach
    void start() throws Exception {
        broker = KafkaBroker.start();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("orders", 3, (short) 1)))
                    .all()
                    .get();
        }
        reader = Thread.ofPlatform().start(this::read);
    }

    @AfterEach
    void stop() throws Exception {
        reading.set(false);
        reader.join(10_000);
        broker.close();
    }

    /** Reads the topic as a plain consumer would, surviving the outage. */
    private void read() {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Map.of(
                "bootstrap.servers",
                broker.bootstrapServers(),
                "key.deserializer",
                ByteArrayDeserializer.class,
                "value.deserializer",
                ByteArrayDeserializer.class))) {
            List<TopicPartition> parts = List.of(
                    new TopicPartition("orders", 0), new TopicPartition("orders", 1), new TopicPartition("orders", 2));
            c.assign(parts);
            c.seekToBeginning(parts);
            while (reading.get()) {
                try {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                        String key = new String(r.key(), StandardCharsets.UTF_8);
                        String id = new String(r.headers().lastHeader("ce_id").value(), StandardCharsets.UTF_8);
                        published
                                .computeIfAbsent(key, k -> new CopyOnWriteArrayList<>())
                                .add(id);
                        contentTypes.put(
                                id,
                                new String(
                                        r.headers().lastHeader("content-type").value(), StandardCharsets.UTF_8));
                    }
                } catch (RuntimeException e) {
                    // the broker is down: try again
                }
            }
        }
    }

    private int publishedCount() {
        return published.values().stream().mapToInt(List::size).sum();
    }

    @Test
    void shouldPublishEveryAcknowledgedEventInKeyOrderThroughABrokerOutage() throws Exception {
        Map<String, List<String>> emitted = new HashMap<>();
        try (KafkaRelay relay = KafkaRelay.builder(broker.bootstrapServers(), "orders")
                        .types("order.*")
                        .sendTimeout(Duration.ofSeconds(2))
                        .probeInterval(Duration.ofSeconds(1))
                        .ratePerSecond(200)
                        .build();
                Keel keel = Keel.builder()
                        .lanes(4)
                        .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                        .subscription(relay.subscription())
                        .build()) {
            keel.start();
            int[] seq = {0};
            Runnable emit = () -> {
                String key = "order-" + (seq[0] % 5);
                var receipt =
                        keel.emit("order.placed", key, Map.of("n", seq[0]++)).join();
                emitted.computeIfAbsent(key, k -> new ArrayList<>()).add(receipt.eventId());
            };
            for (int i = 0; i < 30; i++) {
                emit.run();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> publishedCount() >= 30);
            assertThat(relay.health().healthy()).isTrue();
            assertThat(relay.check().status()).isEqualTo(dev.keel.ComponentHealth.Status.HEALTHY);

            broker.kill();
            for (int i = 0; i < 40; i++) {
                emit.run(); // acknowledged by the journal while the broker is down
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> !relay.health().healthy());
            assertThat(relay.health().reason()).contains("relay 'relay-orders' to orders");
            assertThat(relay.check().status()).isEqualTo(dev.keel.ComponentHealth.Status.DEGRADED);
            assertThat(relay.check().name()).isEqualTo("relay-orders");

            broker.restart();
            for (int i = 0; i < 30; i++) {
                emit.run();
            }
            await().atMost(Duration.ofSeconds(90)).until(() -> {
                for (var e : emitted.entrySet()) {
                    if (!published.getOrDefault(e.getKey(), List.of()).containsAll(e.getValue())) {
                        return false;
                    }
                }
                return true;
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> relay.health().healthy());
        }
        int total = 0;
        Set<String> all = new HashSet<>();
        for (var e : emitted.entrySet()) {
            List<String> got = published.get(e.getKey());
            assertThat(new ArrayList<>(new LinkedHashSet<>(got)))
                    .as("key %s published in the order it was emitted", e.getKey())
                    .isEqualTo(e.getValue());
            total += got.size();
            all.addAll(got);
        }
        assertThat(all).hasSize(100);
        System.out.println("relay through an outage: 100 events, " + (total - 100) + " published twice");
        assertThat(contentTypes.values()).allMatch("application/json"::equals);
    }
}
