package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Topics Keel did not write, bridged into a runtime: CloudEvents in binary and structured mode, plain JSON with a
 * configured type; unreadable records go to {@code <topic>.dlq} with their bytes and never block the partition.
 */
class KafkaBridgeTest {
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(
                            new NewTopic("payments", 1, (short) 1),
                            new NewTopic("payments.dlq", 1, (short) 1),
                            new NewTopic("clicks", 2, (short) 1),
                            new NewTopic("clicks.dlq", 1, (short) 1)))
                    .all()
                    .get();
        }
    }

    @AfterAll
    static void stopBroker() throws Exception {
        broker.close();
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        return new KafkaProducer<>(Map.of(
                "bootstrap.servers",
                broker.bootstrapServers(),
                "key.serializer",
                ByteArraySerializer.class,
                "value.serializer",
                ByteArraySerializer.class));
    }

    private static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static RecordHeaders binary(String id, String contentType) {
        RecordHeaders h = new RecordHeaders();
        h.add("ce_specversion", b("1.0"));
        h.add("ce_id", b(id));
        h.add("ce_source", b("/pay"));
        h.add("ce_type", b("payment.made"));
        h.add("ce_time", b("2026-12-01T10:00:00Z"));
        h.add("content-type", b(contentType));
        return h;
    }

    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int atLeast) {
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Map.of(
                "bootstrap.servers",
                broker.bootstrapServers(),
                "key.deserializer",
                ByteArrayDeserializer.class,
                "value.deserializer",
                ByteArrayDeserializer.class))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (out.size() < atLeast && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            return out;
        }
    }

    @Test
    void shouldBridgeCloudEventsInBothModesAndDeadLetterWhatCannotBeRead() throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            p.send(new ProducerRecord<>(
                    "payments", 0, b("acct-1"), b("{\"cents\":100}"), binary("p-1", "application/json")));
            p.send(new ProducerRecord<>("payments", b("acct-1"), b("not an event")));
            RecordHeaders structured = new RecordHeaders();
            structured.add("content-type", b("application/cloudevents+json; charset=UTF-8"));
            p.send(new ProducerRecord<>(
                    "payments",
                    0,
                    b("acct-1"),
                    b("{\"specversion\":\"1.0\",\"id\":\"p-2\",\"source\":\"/pay\",\"type\":\"payment.made\","
                            + "\"time\":\"2026-12-01T10:00:01Z\",\"data\":{\"cents\":200}}"),
                    structured));
            p.send(new ProducerRecord<>("payments", 0, b("acct-1"), b("{oops"), binary("p-bad", "application/json")));
            p.send(new ProducerRecord<>(
                    "payments", 0, b("acct-1"), b("{\"cents\":300}"), binary("p-3", "application/json")));
        }
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicBoolean failedOnce = new AtomicBoolean();
        try (Keel keel = Keel.builder()
                        .lanes(4)
                        .subscription(Subscription.builder("ledger")
                                .types("payment.made")
                                .retry(RetryPolicy.builder()
                                        .maxAttempts(3)
                                        .initialDelay(Duration.ofMillis(20))
                                        .build())
                                .handler(Map.class, d -> {
                                    if (d.event().id().equals("p-2") && failedOnce.compareAndSet(false, true)) {
                                        throw new IllegalStateException("ledger busy"); // retried, in key order
                                    }
                                    seen.add(d.event().id() + ":" + d.data().get("cents") + ":"
                                            + d.event().partitionKey());
                                })
                                .build())
                        .build();
                KafkaBridge bridge = KafkaBridge.builder(broker.bootstrapServers(), "ledger-bridge", "payments")
                        .build()) {
            keel.start();
            bridge.start(keel);
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 3);
            assertThat(seen).containsExactly("p-1:100:acct-1", "p-2:200:acct-1", "p-3:300:acct-1");
            await().atMost(Duration.ofSeconds(10)).until(() -> bridge.deadLettered() == 2);
        }
        List<ConsumerRecord<byte[], byte[]>> dlq = readAll("payments.dlq", 2);
        assertThat(dlq).hasSize(2);
        assertThat(new String(dlq.get(0).value(), StandardCharsets.UTF_8)).isEqualTo("not an event");
        assertThat(new String(
                        dlq.get(0).headers().lastHeader("keel_original_offset").value(), StandardCharsets.UTF_8))
                .isEqualTo("1");
        assertThat(new String(dlq.get(1).value(), StandardCharsets.UTF_8)).isEqualTo("{oops");
        assertThat(new String(
                        dlq.get(1).headers().lastHeader("keel_error_message").value(), StandardCharsets.UTF_8))
                .contains("not the JSON");
    }

    @Test
    void shouldBridgePlainJsonWithAConfiguredTypeAndNeverTwiceAfterARestart() throws Exception {
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < 20; i++) {
                p.send(new ProducerRecord<>("clicks", b("user-" + (i % 3)), b("{\"x\":" + i + "}")));
            }
            p.send(new ProducerRecord<>("clicks", b("user-0"), b("<xml/>")));
        }
        List<Integer> got = new CopyOnWriteArrayList<>();
        Subscription sub = Subscription.builder("analytics")
                .types("click.recorded")
                .handler(Map.class, d -> got.add((Integer) d.data().get("x")))
                .build();
        try (Keel keel = Keel.builder().lanes(2).subscription(sub).build()) {
            keel.start();
            try (KafkaBridge bridge = KafkaBridge.builder(broker.bootstrapServers(), "clicks-bridge", "clicks")
                    .format(KafkaBridge.Format.JSON)
                    .type("click.recorded")
                    .build()) {
                bridge.start(keel);
                await().atMost(Duration.ofSeconds(30)).until(() -> got.size() == 20);
                await().atMost(Duration.ofSeconds(10)).until(() -> bridge.deadLettered() == 1);
            }
            // Another group reading the same records from the start emits them again: dedup on the records'
            // places drops every one.
            try (KafkaBridge again = KafkaBridge.builder(broker.bootstrapServers(), "clicks-bridge-2", "clicks")
                    .format(KafkaBridge.Format.JSON)
                    .type("click.recorded")
                    .build()) {
                again.start(keel);
                await().atMost(Duration.ofSeconds(30)).until(() -> again.bridged() == 21);
            }
            // Nothing dropped by dedup may still arrive: the deliveries stay at 20 for a while.
            await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(5)).until(() -> got.size() == 20);
        }
        assertThat(got).hasSize(20).doesNotHaveDuplicates();
        assertThat(readAll("clicks.dlq", 2)).hasSizeGreaterThanOrEqualTo(1);
    }

    @Test
    void shouldKeepAPartitionsOrderWhenTheRuntimeRefusesSomeOfItsRecordsForNow() throws Exception {
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("steps", 1, (short) 1)))
                    .all()
                    .get();
        }
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = 0; i < 40; i++) {
                p.send(new ProducerRecord<>("steps", b("job-1"), b(Integer.toString(i))));
            }
        }
        List<Integer> got = new CopyOnWriteArrayList<>();
        Subscription sub = Subscription.builder("steps")
                .types("step.done")
                .handler(String.class, d -> {
                    got.add(Integer.parseInt(d.data()));
                    Thread.sleep(5);
                })
                .build();
        // A full intake refuses emits now and then while the slow subscription drains it: each refusal must
        // hold back the records after it, or they would land first.
        try (Keel keel = Keel.builder()
                .lanes(1)
                .intake(3, Duration.ofMillis(4))
                .subscription(sub)
                .build()) {
            keel.start();
            try (KafkaBridge bridge = KafkaBridge.builder(broker.bootstrapServers(), "steps-bridge", "steps")
                    .format(KafkaBridge.Format.STRING)
                    .type("step.done")
                    .retryBackoff(Duration.ofMillis(20))
                    .build()) {
                bridge.start(keel);
                await().atMost(Duration.ofSeconds(60)).until(() -> got.size() >= 40);
            }
        }
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            expected.add(i);
        }
        assertThat(got).containsExactlyElementsOf(expected);
    }
}
