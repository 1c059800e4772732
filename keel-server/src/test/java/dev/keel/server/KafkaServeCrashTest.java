package dev.keel.server;

import dev.keel.kafka.KafkaBroker;
import java.util.Map;

/** {@link ServeCrashScenario} on one Kafka broker. */
class KafkaServeCrashTest extends ServeCrashScenario {
    private KafkaBroker broker;

    @Override
    protected void startEngine() throws Exception {
        broker = KafkaBroker.start();
    }

    @Override
    protected void stopEngine() throws Exception {
        broker.close();
    }

    @Override
    protected Map<String, String> engineEnvironment() {
        return Map.of(
                "KEEL_STORE",
                "kafka",
                "KEEL_KAFKA_BOOTSTRAP",
                broker.bootstrapServers(),
                "KEEL_KAFKA_REPLICATION",
                "1");
    }

    @Override
    protected String engineName() {
        return "Kafka";
    }
}
