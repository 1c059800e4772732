package dev.keel.spring;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** IDEs complete and document every keel.* property from the metadata generated at compile time. */
class ConfigurationMetadataTest {
    @Test
    void everyPropertyIsDescribedWithItsDefault() throws Exception {
        Map<String, JsonNode> properties = new HashMap<>();
        try (InputStream in = getClass().getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
            assertThat(in).as("the generated configuration metadata").isNotNull();
            for (JsonNode p : new ObjectMapper().readTree(in).get("properties")) {
                properties.put(p.get("name").asText(), p);
            }
        }
        assertThat(properties)
                .containsKeys(
                        "keel.engine",
                        "keel.lanes",
                        "keel.jdbc.url",
                        "keel.jdbc.use-application-datasource",
                        "keel.retry.max-attempts",
                        "keel.retry.initial-delay",
                        "keel.timeout",
                        "keel.retention",
                        "keel.dead-letter-capacity",
                        "keel.max-payload-bytes",
                        "keel.intake.high-water-mark",
                        "keel.subscriptions",
                        "keel.outbox.poll-interval",
                        "keel.lifecycle.drain-timeout");
        assertThat(properties.values())
                .allSatisfy(p -> assertThat(p.path("description").asText())
                        .as("description of %s", p.get("name").asText())
                        .isNotBlank());
        assertThat(properties.get("keel.lanes").get("defaultValue").asInt()).isEqualTo(8);
        assertThat(properties.get("keel.retry.max-attempts").get("defaultValue").asInt())
                .isEqualTo(5);
    }
}
