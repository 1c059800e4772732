package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import java.net.http.HttpResponse;
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
    void shouldRefuseSchemasItCannotUseWhenTheServerIsBuilt() {
        try (Keel other = Keel.builder().build()) {
            assertThatThrownBy(() -> KeelServer.builder(other)
                            .port(0)
                            .schema("order.created", "{not json")
                            .build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("order.created");
            // Nothing is fetched over the network: a remote $ref is refused at start, not followed.
            assertThatThrownBy(() -> KeelServer.builder(other)
                            .port(0)
                            .schema("order.created", "{\"$ref\":\"https://schemas.example/order.json\"}")
                            .build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("order.created");
            assertThatThrownBy(() -> KeelServer.builder(other)
                            .port(0)
                            .schema("Order Created", "{}")
                            .build())
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("not an event type");
        }
    }
}
