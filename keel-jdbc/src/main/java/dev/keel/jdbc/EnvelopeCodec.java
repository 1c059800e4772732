package dev.keel.jdbc;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.AttemptError;
import dev.keel.Event;
import dev.keel.spi.JournalException;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Events as stored: the CloudEvents JSON format (attributes at the top level, {@code data} as JSON or
 * {@code data_base64} for bytes) with Keel's extensions. Data comes back as plain JSON values (maps,
 * lists, strings, numbers, booleans) or bytes; the runtime converts it to each handler's type.
 */
final class EnvelopeCodec {
    private static final TypeReference<List<AttemptError>> ERRORS = new TypeReference<>() {};

    private final ObjectMapper mapper;

    EnvelopeCodec(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    byte[] write(Event<?> e) {
        ObjectNode n = mapper.createObjectNode();
        n.put("specversion", e.specVersion());
        n.put("id", e.id());
        n.put("source", e.source());
        n.put("type", e.type());
        n.put("time", e.time().toString());
        putIfSet(n, "subject", e.subject());
        putIfSet(n, "datacontenttype", e.dataContentType());
        putIfSet(n, "partitionkey", e.partitionKey());
        putIfSet(n, "tenant", e.tenant());
        putIfSet(n, "idempotencykey", e.idempotencyKey());
        putIfSet(n, "correlationid", e.correlationId());
        putIfSet(n, "causationid", e.causationId());
        if (e.depth() != 0) {
            n.put("depth", e.depth());
        }
        putIfSet(n, "traceparent", e.traceparent());
        if (e.priority() != 0) {
            n.put("priority", e.priority());
        }
        if (e.deliverAt() != null) {
            n.put("deliverat", e.deliverAt().toString());
        }
        Object data = e.data();
        if (data instanceof byte[] bytes) {
            n.put("data_base64", Base64.getEncoder().encodeToString(bytes));
        } else if (data != null) {
            n.set("data", mapper.valueToTree(data));
        }
        try {
            return mapper.writeValueAsBytes(n);
        } catch (IOException ex) {
            throw new JournalException("event " + e.id() + " could not be written as JSON: " + ex.getMessage(), ex);
        }
    }

    Event<Object> read(byte[] envelope) {
        try {
            JsonNode n = mapper.readTree(envelope);
            Object data = null;
            if (n.hasNonNull("data_base64")) {
                data = Base64.getDecoder().decode(n.get("data_base64").asText());
            } else if (n.has("data") && !n.get("data").isNull()) {
                data = mapper.treeToValue(n.get("data"), Object.class);
            }
            return new Event<>(
                    text(n, "id"),
                    text(n, "source"),
                    text(n, "type"),
                    text(n, "specversion"),
                    Instant.parse(text(n, "time")),
                    text(n, "subject"),
                    text(n, "datacontenttype"),
                    data,
                    text(n, "partitionkey"),
                    text(n, "tenant"),
                    text(n, "idempotencykey"),
                    text(n, "correlationid"),
                    text(n, "causationid"),
                    n.path("depth").asInt(0),
                    text(n, "traceparent"),
                    n.path("priority").asInt(0),
                    n.hasNonNull("deliverat") ? Instant.parse(text(n, "deliverat")) : null);
        } catch (IOException | RuntimeException ex) {
            throw new JournalException(
                    "a stored event could not be read back (" + ex.getMessage()
                            + "); the journal may have been written by an incompatible version",
                    ex);
        }
    }

    String writeErrors(List<AttemptError> errors) {
        try {
            return mapper.writeValueAsString(errors);
        } catch (IOException ex) {
            throw new JournalException("attempt errors could not be written as JSON: " + ex.getMessage(), ex);
        }
    }

    List<AttemptError> readErrors(String json) {
        try {
            return new ArrayList<>(mapper.readValue(json, ERRORS));
        } catch (IOException ex) {
            throw new JournalException("stored attempt errors could not be read back: " + ex.getMessage(), ex);
        }
    }

    private static void putIfSet(ObjectNode n, String name, String value) {
        if (value != null) {
            n.put(name, value);
        }
    }

    private static String text(JsonNode n, String name) {
        JsonNode v = n.get(name);
        return v == null || v.isNull() ? null : v.asText();
    }
}
