package dev.keel.kafka;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * A Kafka journal's settings, read once from the environment at start ({@code KEEL_STORE=kafka}):
 *
 * <table>
 *   <caption>Environment variables</caption>
 *   <tr><th>variable</th><th>meaning</th><th>default</th></tr>
 *   <tr><td>{@code KEEL_KAFKA_BOOTSTRAP}</td><td>bootstrap servers, {@code host:port[,host:port]}</td><td>required</td></tr>
 *   <tr><td>{@code KEEL_KAFKA_TOPIC}</td><td>the log topic; Keel's own topics are named after it</td><td>{@code keel.events}</td></tr>
 *   <tr><td>{@code KEEL_KAFKA_REPLICATION}</td><td>replication factor of created topics</td><td>the broker's default</td></tr>
 *   <tr><td>{@code KEEL_KAFKA_CREATE_TOPICS}</td><td>{@code true} creates missing topics; {@code false} refuses to start without them</td><td>{@code true}</td></tr>
 *   <tr><td>{@code KEEL_KAFKA_CONFIG}</td><td>a properties file of Kafka client settings (security, timeouts)</td><td></td></tr>
 *   <tr><td>{@code KEEL_LANES}</td><td>lanes, which are the log topic's partitions</td><td>8</td></tr>
 * </table>
 *
 * @param bootstrapServers the brokers to start from
 * @param topic the log topic
 * @param replicationFactor the replication factor of created topics, or 0 for the broker's default
 * @param createTopics whether missing topics are created
 * @param clientProperties extra Kafka client settings
 */
public record KafkaSettings(
        String bootstrapServers,
        String topic,
        int replicationFactor,
        boolean createTopics,
        Map<String, String> clientProperties) {

    public KafkaSettings {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new IllegalArgumentException(
                    "KEEL_STORE=kafka needs KEEL_KAFKA_BOOTSTRAP, the brokers as host:port[,host:port...]");
        }
        clientProperties = Map.copyOf(clientProperties);
    }

    /** Reads the settings from environment variables (see the class description). */
    public static KafkaSettings fromEnvironment(Map<String, String> env) {
        String replication = blankToNull(env.get("KEEL_KAFKA_REPLICATION"));
        int factor = 0;
        if (replication != null) {
            try {
                factor = Integer.parseInt(replication.trim());
                if (factor < 1 || factor > 32) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "KEEL_KAFKA_REPLICATION must be a whole number from 1 to 32 but was '" + replication + "'");
            }
        }
        String create =
                env.getOrDefault("KEEL_KAFKA_CREATE_TOPICS", "true").trim().toLowerCase(Locale.ROOT);
        if (!create.equals("true") && !create.equals("false")) {
            throw new IllegalArgumentException(
                    "KEEL_KAFKA_CREATE_TOPICS must be true or false but was '" + create + "'");
        }
        Map<String, String> client = Map.of();
        String file = blankToNull(env.get("KEEL_KAFKA_CONFIG"));
        if (file != null) {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(Path.of(file))) {
                p.load(r);
            } catch (IOException e) {
                throw new IllegalArgumentException(
                        "KEEL_KAFKA_CONFIG: cannot read '" + file + "': " + e.getMessage(), e);
            }
            Map<String, String> m = new java.util.HashMap<>();
            p.stringPropertyNames().forEach(k -> m.put(k, p.getProperty(k)));
            client = m;
        }
        return new KafkaSettings(
                env.get("KEEL_KAFKA_BOOTSTRAP"),
                env.getOrDefault("KEEL_KAFKA_TOPIC", KafkaJournal.DEFAULT_TOPIC),
                factor,
                create.equals("true"),
                client);
    }

    /** A new, unopened journal for these settings. */
    public KafkaJournal journal() {
        KafkaJournal.Builder b = KafkaJournal.builder()
                .bootstrapServers(bootstrapServers)
                .topic(topic)
                .createTopics(createTopics);
        if (replicationFactor > 0) {
            b.replicationFactor(replicationFactor);
        }
        clientProperties.forEach(b::clientProperty);
        return b.build();
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
