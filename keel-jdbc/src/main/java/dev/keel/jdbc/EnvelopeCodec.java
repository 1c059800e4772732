package dev.keel.jdbc;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.AttemptError;
import dev.keel.Event;
import dev.keel.spi.JournalException;
import java.io.ByteArrayOutputStream;
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
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = mapper.getFactory().createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("specversion", e.specVersion());
            g.writeStringField("id", e.id());
            g.writeStringField("source", e.source());
            g.writeStringField("type", e.type());
            g.writeStringField("time", e.time().toString());
            field(g, "subject", e.subject());
            field(g, "datacontenttype", e.dataContentType());
            field(g, "partitionkey", e.partitionKey());
            field(g, "tenant", e.tenant());
            field(g, "idempotencykey", e.idempotencyKey());
            field(g, "correlationid", e.correlationId());
            field(g, "causationid", e.causationId());
            if (e.depth() != 0) {
                g.writeNumberField("depth", e.depth());
            }
            field(g, "traceparent", e.traceparent());
            if (e.priority() != 0) {
                g.writeNumberField("priority", e.priority());
            }
            if (e.deliverAt() != null) {
                g.writeStringField("deliverat", e.deliverAt().toString());
            }
            Object data = e.data();
            if (data instanceof byte[] bytes) {
                g.writeStringField("data_base64", Base64.getEncoder().encodeToString(bytes));
            } else if (data != null) {
                g.writeFieldName("data");
                mapper.writeValue(g, data);
            }
            g.writeEndObject();
        } catch (IOException ex) {
            throw new JournalException("event " + e.id() + " could not be written as JSON: " + ex.getMessage(), ex);
        }
        return out.toByteArray();
    }

    Event<Object> read(byte[] envelope) {
        String id = null;
        String source = null;
        String type = null;
        String specVersion = null;
        String time = null;
        String subject = null;
        String contentType = null;
        String partitionKey = null;
        String tenant = null;
        String idempotencyKey = null;
        String correlationId = null;
        String causationId = null;
        String traceparent = null;
        String deliverAt = null;
        int depth = 0;
        int priority = 0;
        Object data = null;
        try (JsonParser p = mapper.getFactory().createParser(envelope)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                switch (name) {
                    case "id" -> id = p.getValueAsString();
                    case "source" -> source = p.getValueAsString();
                    case "type" -> type = p.getValueAsString();
                    case "specversion" -> specVersion = p.getValueAsString();
                    case "time" -> time = p.getValueAsString();
                    case "subject" -> subject = p.getValueAsString();
                    case "datacontenttype" -> contentType = p.getValueAsString();
                    case "partitionkey" -> partitionKey = p.getValueAsString();
                    case "tenant" -> tenant = p.getValueAsString();
                    case "idempotencykey" -> idempotencyKey = p.getValueAsString();
                    case "correlationid" -> correlationId = p.getValueAsString();
                    case "causationid" -> causationId = p.getValueAsString();
                    case "traceparent" -> traceparent = p.getValueAsString();
                    case "deliverat" -> deliverAt = p.getValueAsString();
                    case "depth" -> depth = p.getValueAsInt();
                    case "priority" -> priority = p.getValueAsInt();
                    case "data_base64" -> data = Base64.getDecoder().decode(p.getValueAsString());
                    case "data" -> data = value == JsonToken.VALUE_NULL ? null : mapper.readValue(p, Object.class);
                    default -> p.skipChildren();
                }
            }
            return new Event<>(
                    id,
                    source,
                    type,
                    specVersion,
                    Instant.parse(time),
                    subject,
                    contentType,
                    data,
                    partitionKey,
                    tenant,
                    idempotencyKey,
                    correlationId,
                    causationId,
                    depth,
                    traceparent,
                    priority,
                    deliverAt == null ? null : Instant.parse(deliverAt));
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

    private static void field(JsonGenerator g, String name, String value) throws IOException {
        if (value != null) {
            g.writeStringField(name, value);
        }
    }
}
