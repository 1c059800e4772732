package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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

/** The runtime on a real broker: per-key parking, dead letters in the .dlq topic, restarts, two instances. */
class KafkaRuntimeTest {
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

    private static String newTopic() {
        return "runtime-" + TOPICS.incrementAndGet();
    }

    private static Keel keel(String topic, Subscription... subs) {
        return keel(topic, new SimpleMeterRegistry(), subs);
    }

    private static Keel keel(String topic, MeterRegistry registry, Subscription... subs) {
        Keel.Builder b = Keel.builder()
                .meterRegistry(registry)
                .lanes(4)
                .leaseDuration(Duration.ofSeconds(2))
                .journal(KafkaJournal.builder()
                        .bootstrapServers(broker.bootstrapServers())
                        .topic(topic)
                        .replicationFactor(1)
                        .build());
        for (Subscription s : subs) {
            b.subscription(s);
        }
        return b.build();
    }

    private static double laneChanges(MeterRegistry registry, String direction) {
        return registry.get("keel.lane.changes")
                .tag("direction", direction)
                .counter()
                .count();
    }

    private static RetryPolicy retries(int attempts) {
        return RetryPolicy.builder()
                .maxAttempts(attempts)
                .initialDelay(Duration.ofMillis(100))
                .build();
    }

    @Test
    void shouldParkOnlyTheFailingKeyWhileOtherKeysOfItsLaneFlow() {
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicInteger failures = new AtomicInteger();
        Subscription sub = Subscription.builder("billing")
                .types("order.*")
                .retry(retries(5))
                .handler(String.class, d -> {
                    if (d.data().equals("bad-1") && failures.getAndIncrement() < 2) {
                        throw new IllegalStateException("gateway down");
                    }
                    seen.add(d.data());
                })
                .build();
        try (Keel keel = keel(newTopic(), sub)) {
            keel.start();
            keel.emit("order.placed", "bad", "bad-1").join();
            keel.emit("order.placed", "bad", "bad-2").join();
            for (int i = 0; i < 20; i++) {
                keel.emit("order.placed", "good-" + i, "good-" + i).join();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 22);
        }
        assertThat(seen.indexOf("bad-1")).isLessThan(seen.indexOf("bad-2"));
        assertThat(failures.get()).isEqualTo(3); // two failures, then the success's check
        // Events of other keys did not wait for the parked key: some were delivered before it.
        assertThat(seen.indexOf("bad-1")).isGreaterThan(0);
    }

    @Test
    void shouldDeadLetterIntoTheDlqTopicWithHeadersAndReprocess() throws Exception {
        String topic = newTopic();
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
        String topic = newTopic();
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

    @Test
    void shouldDeliverARetryThatWasPendingWhenTheRuntimeStopped() {
        String topic = newTopic();
        AtomicInteger attempts = new AtomicInteger();
        List<String> done = new CopyOnWriteArrayList<>();
        Subscription first = Subscription.builder("audit")
                .types("doc.*")
                .retry(RetryPolicy.builder()
                        .maxAttempts(5)
                        .initialDelay(Duration.ofSeconds(3))
                        .build())
                .handler(String.class, d -> {
                    attempts.incrementAndGet();
                    throw new IllegalStateException("not yet");
                })
                .build();
        try (Keel keel = keel(topic, first)) {
            keel.start();
            keel.emit("doc.saved", "d-1", "d-1").join();
            await().atMost(Duration.ofSeconds(20)).until(() -> attempts.get() >= 1);
        }
        // The retry is in the state topic: a new runtime on the same topics delivers it.
        Subscription second = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5))
                .handler(String.class, d -> done.add(d.data() + "@" + d.attempt()))
                .build();
        try (Keel keel = keel(topic, second)) {
            keel.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> !done.isEmpty());
        }
        assertThat(done)
                .singleElement()
                .satisfies(s -> assertThat(s).startsWith("d-1@").isNotEqualTo("d-1@1"));
    }

    @Test
    void shouldShareTheLanesOfATopicBetweenTwoRuntimesInKeyOrder() {
        String topic = newTopic();
        Map<String, List<Integer>> byKey = new ConcurrentHashMap<>();
        Map<String, Set<Integer>> lanesBy = new ConcurrentHashMap<>();
        List<Keel> runtimes = new ArrayList<>();
        Map<String, MeterRegistry> meters = new HashMap<>();
        double[] changes = new double[3];
        try {
            for (String name : List.of("a", "b")) {
                meters.put(name, new SimpleMeterRegistry());
                Keel k = keel(
                        topic,
                        meters.get(name),
                        Subscription.builder("counter")
                                .types("tick")
                                .handler(Integer.class, d -> {
                                    byKey.computeIfAbsent(d.event().partitionKey(), x -> new CopyOnWriteArrayList<>())
                                            .add(d.data());
                                    lanesBy.computeIfAbsent(name, x -> ConcurrentHashMap.newKeySet())
                                            .add(d.lane());
                                })
                                .build());
                k.start();
                runtimes.add(k);
            }
            for (int i = 0; i < 200; i++) {
                runtimes.get(i % 2).emit("tick", "k" + (i % 10), i).join();
            }
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> byKey.values().stream().mapToInt(List::size).sum() >= 200);
            // A lane a gave back counts as lost at once, and as gained by b at b's next heartbeat.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> laneChanges(meters.get("b"), "gained") == laneChanges(meters.get("a"), "lost"));
            changes[0] = laneChanges(meters.get("a"), "gained");
            changes[1] = laneChanges(meters.get("a"), "lost");
            changes[2] = laneChanges(meters.get("b"), "gained");
        } finally {
            runtimes.forEach(Keel::close);
        }
        byKey.forEach(
                (key, values) -> assertThat(values).as("key %s in order", key).isSorted());
        assertThat(byKey.values().stream().mapToInt(List::size).sum()).isEqualTo(200);
        // The first runtime held every lane, then handed its surplus over to the second: both delivered, and the
        // hand-over (commit, then release) repeated nothing.
        assertThat(lanesBy).as("both runtimes delivered lanes").hasSize(2);
        // Every lane was gained once by a, and the ones b took over were lost by a and gained by b.
        assertThat(changes[0]).isEqualTo(4);
        assertThat(changes[2]).isPositive().isEqualTo(changes[1]);
    }

    @Test
    void shouldKeepTheOrderOfAppendsWithDedupKeysSentWithoutWaiting() throws Exception {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        try (Keel keel = keel(
                newTopic(),
                Subscription.builder("ordered")
                        .types("step")
                        .handler(Integer.class, d -> seen.add(d.data()))
                        .build())) {
            keel.start();
            List<java.util.concurrent.CompletableFuture<?>> sent = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                // One key, each with its own idempotency key, none awaited before the next: the claims of
                // several appends are in flight at once, and their order must still be the order of the emits.
                sent.add(keel.emit(dev.keel.Event.builder("step", (Object) i)
                        .key("one-key")
                        .idempotencyKey("step-" + i)
                        .build()));
            }
            sent.forEach(java.util.concurrent.CompletableFuture::join);
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 300);
        }
        assertThat(seen).isSorted();
    }
}
