package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Three brokers, replication 3, and the leader of a lane killed under load: every acknowledged event is
 * delivered, in key order. Tagged {@code cluster}: four JVMs take a minute and 1.5 GB, so it is not in the
 * default run (docs/testing.md says how to run it).
 */
@Tag("cluster")
class KafkaClusterTest {
    private static final int KEYS = 16;

    private List<KafkaBroker> brokers;

    @BeforeEach
    void start() throws Exception {
        brokers = KafkaBroker.startCluster(3);
    }

    @AfterEach
    void stop() throws Exception {
        for (KafkaBroker b : brokers) {
            b.close();
        }
    }

    @Test
    void shouldLoseNothingAcknowledgedWhenALeaderIsKilled() throws Exception {
        String bootstrap = brokers.stream().map(KafkaBroker::bootstrapServers).collect(Collectors.joining(","));
        Map<String, List<Integer>> acknowledged = new ConcurrentHashMap<>();
        Map<String, List<Integer>> delivered = new ConcurrentHashMap<>();
        AtomicBoolean stop = new AtomicBoolean();
        try (Keel keel = Keel.builder()
                .lanes(4)
                .journal(KafkaJournal.builder()
                        .bootstrapServers(bootstrap)
                        .topic("cluster")
                        .replicationFactor(3)
                        .build())
                .subscription(Subscription.builder("sink")
                        .types("tick")
                        .handler(Integer.class, d -> delivered
                                .computeIfAbsent(d.event().partitionKey(), k -> new CopyOnWriteArrayList<>())
                                .add(d.data()))
                        .build())
                .build()) {
            keel.start();
            List<Thread> producers = new ArrayList<>();
            for (int k = 0; k < KEYS; k++) {
                String key = "key-" + k;
                producers.add(Thread.ofVirtual().start(() -> {
                    List<Integer> mine = acknowledged.computeIfAbsent(key, x -> new CopyOnWriteArrayList<>());
                    for (int seq = 0; !stop.get(); seq++) {
                        try {
                            keel.emit("tick", key, seq).join();
                            mine.add(seq);
                        } catch (RuntimeException e) {
                            // not acknowledged while the partition had no leader: it may or may not arrive
                        }
                    }
                }));
            }
            await().atMost(Duration.ofSeconds(60)).until(() -> total(acknowledged) >= 1_000);
            int leader;
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
                leader = admin.describeTopics(List.of("cluster"))
                        .allTopicNames()
                        .get()
                        .get("cluster")
                        .partitions()
                        .get(0)
                        .leader()
                        .id();
            }
            brokers.get(leader - 1).kill();
            int before = total(acknowledged);
            await().atMost(Duration.ofSeconds(120)).until(() -> total(acknowledged) >= before + 1_000);
            stop.set(true);
            for (Thread t : producers) {
                t.join(Duration.ofSeconds(60));
            }
            await().atMost(Duration.ofSeconds(120)).until(() -> acknowledged.entrySet().stream()
                    .allMatch(e -> Set.copyOf(delivered.getOrDefault(e.getKey(), List.of()))
                            .containsAll(e.getValue())));
        }
        for (var e : acknowledged.entrySet()) {
            List<Integer> firsts = new ArrayList<>(new java.util.LinkedHashSet<>(delivered.get(e.getKey())));
            Set<Integer> acked = new HashSet<>(e.getValue());
            assertThat(firsts.stream().filter(acked::contains).toList())
                    .as("key %s in order", e.getKey())
                    .isEqualTo(e.getValue());
        }
    }

    private static int total(Map<String, List<Integer>> m) {
        return m.values().stream().mapToInt(List::size).sum();
    }
}
