package dev.keel.kafka;

import dev.keel.spi.JournalException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Keel's topics: the log ({@code <topic>}, one partition per lane) and its own topics beside it —
 * {@code .state} and {@code .dlq} (compacted, one partition per lane), {@code .meta} (compacted, one partition,
 * broker time), {@code .dedup} (broker time, deleted after the dedup retention) and {@code .audit} (one
 * partition, deleted after 90 days). Missing ones are created
 * when allowed; existing ones must have the partitions Keel expects.
 */
final class KafkaTopics {
    private KafkaTopics() {}

    record Spec(String name, int partitions, Map<String, String> config) {}

    static List<Spec> specs(String topic, int lanes, Duration dedupRetention) {
        return List.of(
                new Spec(topic, lanes, Map.of("message.timestamp.type", "CreateTime")),
                new Spec(topic + ".state", lanes, Map.of("cleanup.policy", "compact")),
                new Spec(topic + ".dlq", lanes, Map.of("cleanup.policy", "compact")),
                new Spec(
                        topic + ".meta",
                        1,
                        Map.of("cleanup.policy", "compact", "message.timestamp.type", "LogAppendTime")),
                new Spec(
                        topic + ".dedup",
                        lanes,
                        Map.of(
                                "cleanup.policy",
                                "delete",
                                "retention.ms",
                                Long.toString(dedupRetention.toMillis()),
                                "message.timestamp.type",
                                "LogAppendTime")),
                new Spec(
                        topic + ".audit",
                        1,
                        Map.of(
                                "cleanup.policy",
                                "delete",
                                "retention.ms",
                                Long.toString(AuditTopic.RETENTION.toMillis()))));
    }

    /**
     * Describes the topics, waiting while a topic just created is not known to the broker answering yet and while
     * a partition has no leader.
     */
    private static Map<String, TopicDescription> describe(Admin admin, List<String> names, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                Map<String, TopicDescription> d =
                        admin.describeTopics(names).allTopicNames().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                boolean led = d.values().stream()
                        .flatMap(t -> t.partitions().stream())
                        .allMatch(p -> p.leader() != null && !p.leader().isEmpty());
                if (led || System.nanoTime() - deadline > 0) {
                    return d;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
            Thread.sleep(50);
        }
    }

    /**
     * Creates what is missing (when allowed) and checks the partition counts.
     *
     * @throws JournalException when the broker does not answer within the timeout, a topic is missing and may
     *     not be created, or a topic has another partition count than Keel's lanes
     */
    static void ensure(
            Admin admin,
            String bootstrap,
            List<Spec> specs,
            boolean create,
            Optional<Short> replication,
            Duration timeout) {
        List<String> names = specs.stream().map(Spec::name).toList();
        try {
            var existing = admin.listTopics().names().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            List<NewTopic> missing = new ArrayList<>();
            for (Spec s : specs) {
                if (!existing.contains(s.name())) {
                    if (!create) {
                        throw new JournalException("topic " + s.name() + " does not exist and creating topics is off;"
                                + " create it with " + s.partitions() + " partitions and " + s.config()
                                + ", or turn topic creation on");
                    }
                    missing.add(new NewTopic(s.name(), Optional.of(s.partitions()), replication).configs(s.config()));
                }
            }
            if (!missing.isEmpty()) {
                try {
                    admin.createTopics(missing).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e; // another instance creating them at the same time is fine
                    }
                }
            }
            Map<String, TopicDescription> described = describe(admin, names, timeout);
            for (Spec s : specs) {
                int actual = described.get(s.name()).partitions().size();
                if (actual != s.partitions()) {
                    throw new JournalException("topic " + s.name() + " has " + actual + " partitions but Keel expects "
                            + s.partitions() + (s.partitions() == 1 ? "" : " (one per lane)")
                            + "; run Keel with lanes(" + actual + ") to use it as it is, or give Keel a new topic"
                            + " name; a log's lanes cannot change, since events of one key must stay in one lane");
                }
            }
        } catch (TimeoutException e) {
            throw new JournalException(
                    "no Kafka broker answered at " + bootstrap + " within " + timeout.toSeconds()
                            + " s; check the bootstrap servers and that the broker is up",
                    e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
                throw new JournalException(
                        "no Kafka broker answered at " + bootstrap + " within " + timeout.toSeconds()
                                + " s; check the bootstrap servers and that the broker is up",
                        e.getCause());
            }
            throw new JournalException(
                    "Keel's topics could not be set up on " + bootstrap + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JournalException("interrupted while setting up Keel's topics", e);
        }
    }
}
