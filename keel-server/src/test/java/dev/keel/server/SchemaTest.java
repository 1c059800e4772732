package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** JSON Schema checks of ingested events, per type. */
class SchemaTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ORDER = """
            {"type": "object", "required": ["cents"],
             "properties": {"cents": {"type": "integer", "minimum": 0}, "note": {"type": "string"}}}
            """;

    private Keel keel;
    private KeelServer server;
    private Requests requests;

    @BeforeEach
    void start() {
        keel = Keel.builder().build().start();
        server = KeelServer.builder(keel)
                .port(0)
                .schema("order.created", ORDER)
                .build()
                .start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> structured(String type, String data) throws Exception {
        return requests.send(
                "POST",
                "/v1/events",
                CloudEventReader.STRUCTURED,
                "{\"specversion\":\"1.0\",\"id\":\"" + java.util.UUID.randomUUID() + "\",\"source\":\"/s\",\"type\":\""
                        + type + "\"," + data + "}");
    }

    @Test
    void shouldRefuseDataThatDoesNotMatchItsTypesSchemaAndStoreNothing() throws Exception {
        assertThat(structured("order.created", "\"data\":{\"cents\":1250}").statusCode())
                .isEqualTo(202);
        assertThat(structured("order.paid", "\"data\":\"anything\"").statusCode())
                .isEqualTo(202); // no schema

        HttpResponse<String> missing = structured("order.created", "\"data\":{\"note\":\"no cents\"}");
        assertThat(missing.statusCode()).isEqualTo(400);
        assertThat(missing.headers().firstValue("Content-Type")).hasValue(Problem.MEDIA_TYPE);
        assertThat(JSON.readTree(missing.body()).get("type").asText()).isEqualTo("/problems/schema-violation");
        assertThat(JSON.readTree(missing.body()).get("detail").asText())
                .contains("the event")
                .contains("'order.created'")
                .contains("cents");
        HttpResponse<String> negative = structured("order.created", "\"data\":{\"cents\":-5}");
        assertThat(negative.body()).contains("minimum");
        assertThat(structured("order.created", "\"data_base64\":\"AAEC\"").body())
                .contains("binary data");

        String batch =
                "[{\"specversion\":\"1.0\",\"id\":\"b1\",\"source\":\"/s\",\"type\":\"order.created\",\"data\":{\"cents\":1}},"
                        + "{\"specversion\":\"1.0\",\"id\":\"b2\",\"source\":\"/s\",\"type\":\"order.created\",\"data\":{\"cents\":\"one\"}}]";
        HttpResponse<String> refused = requests.send("POST", "/v1/events", CloudEventReader.BATCH, batch);
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(refused.body()).contains("event 1 of the batch");

        assertThat(keel.stats().emitted()).isEqualTo(2); // the refused requests stored nothing, b1 included
    }

    @Test
    void shouldRefuseSchemasItCannotUseWhenTheServerIsBuilt() throws Exception {
        try (Keel other = Keel.builder().build()) {
            assertThatThrownBy(() -> KeelServer.builder(other)
                            .port(0)
                            .schema("order.created", "{not json")
                            .build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("order.created");
            // Nothing is fetched or read: a $ref outside the schema is refused at start, not followed.
            try (Receiver server = new Receiver()) {
                java.nio.file.Path file = java.nio.file.Files.createTempFile("schema", ".json");
                java.nio.file.Files.writeString(file, "{\"type\":\"object\"}");
                for (String ref : List.of(server.url(), file.toUri().toString(), "classpath:logback.xml")) {
                    assertThatThrownBy(() -> KeelServer.builder(other)
                                    .port(0)
                                    .schema("order.created", "{\"$ref\":\"" + ref + "\"}")
                                    .build())
                            .as(ref)
                            .isInstanceOf(IllegalArgumentException.class)
                            .hasMessageContaining("order.created")
                            .hasMessageContaining("outside itself");
                }
                assertThat(server.calls()).isEmpty();
            }
            // A reference inside the schema works.
            KeelServer.builder(other)
                    .port(0)
                    .schema(
                            "order.created",
                            "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$defs\":{\"cents\":"
                                    + "{\"type\":\"integer\"}},\"properties\":{\"cents\":{\"$ref\":\"#/$defs/cents\"}}}")
                    .schema(
                            "order.paid",
                            "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"type\":\"object\"}")
                    .build()
                    .close();
            assertThatThrownBy(() -> KeelServer.builder(other)
                            .port(0)
                            .schema("Order Created", "{}")
                            .build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("not an event type");
        }
    }
}
