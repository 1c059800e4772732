package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.PayloadTooLargeException;
import dev.keel.Subscription;
import dev.keel.spi.JournalException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Bad configuration and a broker that goes away: clear errors in bounded time, nothing acknowledged lost. */
class KafkaFaultTest {
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
        return "fault-" + TOPICS.incrementAndGet();
    }

    @Test
    void shouldFailClearlyAndInBoundedTimeWhenNoBrokerAnswers() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        KafkaJournal journal = KafkaJournal.builder()
                .bootstrapServers("127.0.0.1:" + closedPort)
                .timeout(Duration.ofSeconds(3))
                .build();
        long started = System.nanoTime();
        assertThatThrownBy(() -> journal.open(4))
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("no Kafka broker answered at 127.0.0.1:" + closedPort)
                .hasMessageContaining("within 3 s");
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(20));
        journal.close(); // closing what never opened is harmless
    }

    @Test
    void shouldNotStartARuntimeWhoseJournalCannotOpen() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        assertThatThrownBy(() -> Keel.builder()
                        .journal(KafkaJournal.builder()
                                .bootstrapServers("127.0.0.1:" + closedPort)
                                .timeout(Duration.ofSeconds(2))
                                .build())
                        .build()
                        .start())
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("no Kafka broker answered");
    }

    @Test
    void shouldRefuseMissingTopicsWhenCreationIsOff() {
        String topic = newTopic();
        KafkaJournal journal = KafkaJournal.builder()
                .bootstrapServers(broker.bootstrapServers())
                .topic(topic)
                .createTopics(false)
                .build();
        assertThatThrownBy(() -> journal.open(4))
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("topic " + topic + " does not exist and creating topics is off")
                .hasMessageContaining("create it with 4 partitions");
        journal.close();
    }

    @Test
    void shouldRefuseATopicWhosePartitionsAreNotTheLanes() throws Exception {
        String topic = newTopic();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
        }
        KafkaJournal journal = KafkaJournal.builder()
                .bootstrapServers(broker.bootstrapServers())
                .topic(topic)
                .build();
        assertThatThrownBy(() -> journal.open(8))
                .isInstanceOf(JournalException.class)
                .hasMessageContaining("topic " + topic + " has 3 partitions but Keel expects 8")
                .hasMessageContaining("lanes(3)");
        journal.close();
    }

    @Test
    void shouldRefuseARecordOverTheSizeLimitWithATypedError() {
        try (Keel keel = Keel.builder()
                .lanes(2)
                .journal(KafkaJournal.builder()
                        .bootstrapServers(broker.bootstrapServers())
                        .topic(newTopic())
                        .maxRecordBytes(4096)
                        .build())
                .build()) {
            keel.start();
            assertThatThrownBy(() ->
                            keel.emit("doc.saved", "d", "x".repeat(10_000)).join())
                    .isInstanceOf(CompletionException.class)
                    .hasCauseInstanceOf(PayloadTooLargeException.class);
            // Nothing half-stored: a small event after it is the lane's first.
            assertThat(keel.emit("doc.saved", "d", "small").join()).isNotNull();
        }
    }

    @Test
    void shouldLoseNothingAcknowledgedWhenTheBrokerRestartsUnderLoad() throws Exception {
        String topic = newTopic();
        Set<Integer> acknowledged = ConcurrentHashMap.newKeySet();
        Set<Integer> delivered = ConcurrentHashMap.newKeySet();
        AtomicBoolean stop = new AtomicBoolean();
        try (Keel keel = Keel.builder()
                .lanes(4)
                .journal(KafkaJournal.builder()
                        .bootstrapServers(broker.bootstrapServers())
                        .topic(topic)
                        .replicationFactor(1)
                        .build())
                .subscription(Subscription.builder("sink")
                        .types("n")
                        .handler(Integer.class, d -> delivered.add(d.data()))
                        .build())
                .build()) {
            keel.start();
            Thread producer = Thread.ofVirtual().start(() -> {
                for (int i = 0; !stop.get(); i++) {
                    int n = i;
                    try {
                        keel.emit("n", "k" + (n % 16), n).join();
                        acknowledged.add(n);
                    } catch (RuntimeException e) {
                        // not acknowledged: the broker was down for longer than the producer waits
                    }
                }
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> acknowledged.size() >= 300);
            broker.kill();
            // The outage is under way once emits stop being acknowledged: half a second without one.
            int[] last = {acknowledged.size()};
            await().atMost(Duration.ofSeconds(20))
                    .pollInterval(Duration.ofMillis(500))
                    .until(() -> last[0] == (last[0] = acknowledged.size()));
            broker.restart();
            int before = acknowledged.size();
            await().atMost(Duration.ofSeconds(60)).until(() -> acknowledged.size() >= before + 300);
            stop.set(true);
            producer.join(Duration.ofSeconds(150));
            await().atMost(Duration.ofSeconds(60)).until(() -> delivered.containsAll(acknowledged));
        }
    }
}
