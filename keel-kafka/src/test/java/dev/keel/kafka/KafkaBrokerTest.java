package dev.keel.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;

class KafkaBrokerTest {
    @Test
    void shouldStartABrokerThatCreatesTopics() throws Exception {
        try (KafkaBroker broker = KafkaBroker.start();
                Admin admin = Admin.create(Map.of("bootstrap.servers", broker.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic("t", 3, (short) 1))).all().get();
            assertThat(admin.listTopics().names().get()).contains("t");
        }
    }
}
