package dev.keel.spi;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.AttemptError;
import dev.keel.Event;
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
 *
 * <p>Every engine that stores whole events as one value uses this format, so that a record reads back alike
 * whichever engine wrote it.
 */
public final class EnvelopeCodec {
    private static final TypeReference<List<AttemptError>> ERRORS = new TypeReference<>() {};

    private final ObjectMapper mapper;

    /** A codec writing data with the mapper. */
    public EnvelopeCodec(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    /** The event as a CloudEvents JSON document. */
    public byte[] write(Event<?> e) {
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

    /**
     * The event a document holds.
     *
     * @throws JournalException when it is not one
     */
    public Event<Object> read(byte[] envelope) {
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
                    instant(time),
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
                    deliverAt == null ? null : instant(deliverAt));
        } catch (IOException | RuntimeException ex) {
            throw new JournalException(
                    "a stored event could not be read back (" + ex.getMessage()
                            + "); the journal may have been written by an incompatible version",
                    ex);
        }
    }

    /** Attempt errors as a JSON array. */
    public String writeErrors(List<AttemptError> errors) {
        try {
            return mapper.writeValueAsString(errors);
        } catch (IOException ex) {
            throw new JournalException("attempt errors could not be written as JSON: " + ex.getMessage(), ex);
        }
    }

    /** Attempt errors from a JSON array. */
    public List<AttemptError> readErrors(String json) {
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

    /**
     * Reads a timestamp as {@link Instant#toString()} writes it ({@code 2026-01-31T12:00:00.123456Z}) without
     * the general formatter, which costs more than the rest of an envelope; any other form goes to {@link
     * Instant#parse}.
     */
    public static Instant instant(String text) {
        int n = text.length();
        if (n < 20
                || n > 30
                || text.charAt(n - 1) != 'Z'
                || text.charAt(4) != '-'
                || text.charAt(7) != '-'
                || text.charAt(10) != 'T'
                || text.charAt(13) != ':'
                || text.charAt(16) != ':') {
            return Instant.parse(text);
        }
        int year = digits(text, 0, 4);
        int month = digits(text, 5, 7);
        int day = digits(text, 8, 10);
        int hour = digits(text, 11, 13);
        int minute = digits(text, 14, 16);
        int second = digits(text, 17, 19);
        int nanos = 0;
        if (n > 20) {
            if (text.charAt(19) != '.' || n == 21) {
                return Instant.parse(text);
            }
            int fraction = digits(text, 20, n - 1);
            nanos = fraction < 0 ? -1 : fraction * POWERS[9 - (n - 21)];
        }
        if ((year | month | day | hour | minute | second | nanos) < 0
                || month < 1
                || month > 12
                || day < 1
                || day > 28 && day > java.time.YearMonth.of(year, month).lengthOfMonth()
                || hour > 23
                || minute > 59
                || second > 59) {
            return Instant.parse(text);
        }
        long days = java.time.LocalDate.of(year, month, day).toEpochDay();
        return Instant.ofEpochSecond(days * 86_400 + hour * 3_600L + minute * 60L + second, nanos);
    }

    private static final int[] POWERS = {1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000};

    /** The decimal number in text[from, to), or -1 when a character there is not a digit. */
    private static int digits(String text, int from, int to) {
        int value = 0;
        for (int i = from; i < to; i++) {
            int d = text.charAt(i) - '0';
            if (d < 0 || d > 9) {
                return -1;
            }
            value = value * 10 + d;
        }
        return value;
    }
}
