package dev.keel.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.InvalidEventException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Reads CloudEvents 1.0 from HTTP requests: structured mode (one JSON object), batch mode (a JSON array of
 * them) and binary mode ({@code ce-*} headers, the body as data). Anything wrong is a {@link ProblemException}
 * that names the attribute and the event's place in a batch.
 */
final class CloudEventReader {
    /** The longest idempotency key, as header or attribute. */
    static final int MAX_IDEMPOTENCY_KEY = 200;

    static final String STRUCTURED = "application/cloudevents+json";
    static final String BATCH = "application/cloudevents-batch+json";

    private final ObjectMapper mapper;

    CloudEventReader(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    JsonNode parse(byte[] body) {
        try {
            JsonNode node = mapper.readTree(body);
            if (node == null || node.isMissingNode()) {
                throw ProblemException.badRequest("malformed-json", "the request body is empty; send a CloudEvent");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw ProblemException.badRequest(
                    "malformed-json", "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw ProblemException.badRequest("malformed-json", "the request body could not be read: " + e);
        }
    }

    /** One structured-mode event; {@code where} names it in messages ("the event", "event 3"). */
    Event<Object> structured(JsonNode node, String where, String tenant) {
        if (!node.isObject()) {
            throw ProblemException.badRequest(
                    "invalid-event", where + " must be a JSON object with the CloudEvents attributes");
        }
        return build(name -> text(node, name, where), where, tenant, data(node, where));
    }

    List<Event<Object>> batch(JsonNode node, int maxBatch, String tenant) {
        if (!node.isArray()) {
            throw ProblemException.badRequest(
                    "invalid-batch", "a batch must be a JSON array of CloudEvents (" + BATCH + ")");
        }
        if (node.isEmpty()) {
            throw ProblemException.badRequest("invalid-batch", "the batch is empty; send at least one event");
        }
        if (node.size() > maxBatch) {
            throw new ProblemException(
                    413,
                    "batch-too-large",
                    "Batch too large",
                    "the batch holds " + node.size() + " events; at most " + maxBatch
                            + " are accepted in one request. Split it");
        }
        List<Event<Object>> events = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            events.add(structured(node.get(i), "event " + i + " of the batch", tenant));
        }
        return events;
    }

    /** A binary-mode event: attributes from {@code ce-*} headers, the body as its data. */
    Event<Object> binary(Map<String, String> headers, String contentType, byte[] body, String tenant) {
        Function<String, String> attribute = name -> headers.get("ce-" + name);
        if (attribute.apply("specversion") == null) {
            throw new ProblemException(
                    415,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "send " + STRUCTURED + ", " + BATCH
                            + ", or a binary-mode CloudEvent (ce-specversion, ce-id, ce-source and ce-type headers)");
        }
        Object data = null;
        if (body.length > 0) {
            if (contentType != null
                    && contentType.toLowerCase(java.util.Locale.ROOT).contains("json")) {
                JsonNode json = parse(body);
                data = mapper.convertValue(json, Object.class);
            } else if (contentType != null
                    && contentType.toLowerCase(java.util.Locale.ROOT).startsWith("text/")) {
                data = new String(body, java.nio.charset.StandardCharsets.UTF_8);
            } else {
                data = body;
            }
        }
        return build(
                name -> name.equals("datacontenttype") ? contentType : attribute.apply(name),
                "the event",
                tenant,
                data);
    }

    /** The data of a structured event: JSON values as plain Java values, {@code data_base64} as bytes. */
    private Object data(JsonNode node, String where) {
        JsonNode data = node.get("data");
        JsonNode dataBase64 = node.get("data_base64");
        if (data != null && dataBase64 != null) {
            throw ProblemException.badRequest(
                    "invalid-event", where + " has both 'data' and 'data_base64'; send one of them");
        }
        Object value = null;
        if (dataBase64 != null) {
            if (!dataBase64.isTextual()) {
                throw ProblemException.badRequest("invalid-event", where + ": 'data_base64' must be a string");
            }
            try {
                value = Base64.getDecoder().decode(dataBase64.asText());
            } catch (IllegalArgumentException e) {
                throw ProblemException.badRequest("invalid-event", where + ": 'data_base64' is not valid base64");
            }
        } else if (data != null && !data.isNull()) {
            value = mapper.convertValue(data, Object.class);
        }
        return value;
    }

    private Event<Object> build(Function<String, String> attribute, String where, String tenant, Object data) {
        String spec = attribute.apply("specversion");
        if (spec == null) {
            throw ProblemException.badRequest(
                    "invalid-event", where + " has no 'specversion'; CloudEvents 1.0 requires \"1.0\"");
        }
        if (!spec.equals("1.0")) {
            throw ProblemException.badRequest(
                    "invalid-event", where + " has specversion '" + spec + "'; only \"1.0\" is supported");
        }
        String id = required(attribute, "id", where);
        String source = required(attribute, "source", where);
        String type = required(attribute, "type", where);
        try {
            Event.Builder<Object> b =
                    Event.builder(type, data).id(id).source(source).tenant(tenant);
            String time = attribute.apply("time");
            if (time != null) {
                b.time(instant(time, "time", where));
            }
            String value;
            if ((value = attribute.apply("subject")) != null) {
                b.subject(value);
            }
            if ((value = attribute.apply("datacontenttype")) != null) {
                b.dataContentType(value);
            }
            if ((value = attribute.apply("partitionkey")) != null) {
                b.key(value);
            }
            if ((value = attribute.apply("idempotencykey")) != null) {
                if (value.isBlank() || value.length() > MAX_IDEMPOTENCY_KEY) {
                    throw ProblemException.badRequest(
                            "invalid-idempotency-key",
                            where + ": 'idempotencykey' must be 1 to " + MAX_IDEMPOTENCY_KEY + " characters, as the"
                                    + " Idempotency-Key header");
                }
                b.idempotencyKey(value);
            }
            if ((value = attribute.apply("correlationid")) != null) {
                b.correlationId(value);
            }
            if ((value = attribute.apply("causationid")) != null) {
                b.causationId(value);
            }
            if ((value = attribute.apply("traceparent")) != null) {
                b.traceparent(value);
            }
            if ((value = attribute.apply("priority")) != null) {
                try {
                    b.priority(Integer.parseInt(value));
                } catch (NumberFormatException e) {
                    throw ProblemException.badRequest(
                            "invalid-event", where + ": 'priority' must be an integer but was '" + value + "'");
                }
            }
            if ((value = attribute.apply("deliverat")) != null) {
                b.deliverAt(instant(value, "deliverat", where));
            }
            return b.build();
        } catch (InvalidEventException e) {
            throw ProblemException.badRequest("invalid-event", where + ": " + e.getMessage());
        }
    }

    private static Instant instant(String text, String name, String where) {
        try {
            return java.time.OffsetDateTime.parse(text).toInstant();
        } catch (DateTimeParseException e) {
            throw ProblemException.badRequest(
                    "invalid-event",
                    where + ": '" + name + "' must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z but was '"
                            + text + "'");
        }
    }

    private static String required(Function<String, String> attribute, String name, String where) {
        String value = attribute.apply(name);
        if (value == null || value.isBlank()) {
            throw ProblemException.badRequest(
                    "invalid-event", where + " has no '" + name + "'; CloudEvents requires id, source and type");
        }
        return value;
    }

    /** An attribute of a structured event as text: strings as they are, numbers as written, others refused. */
    private static String text(JsonNode node, String name, String where) {
        JsonNode v = node.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isNumber() && name.equals("priority")) {
            return v.asText();
        }
        throw ProblemException.badRequest(
                "invalid-event", where + ": '" + name + "' must be a string but was " + v.getNodeType());
    }
}
