package dev.keel.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.spi.EnvelopeCodec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Events in the CloudEvents Kafka protocol binding's binary mode: each attribute is a {@code ce_} header, the
 * data content type is the {@code content-type} header, and the record's value is the data itself. Keel's
 * extension attributes travel as {@code ce_} headers too, and the trace as a W3C {@code traceparent} header.
 */
final class CloudEventHeaders {
    static final String PREFIX = "ce_";

    private final ObjectMapper mapper;

    CloudEventHeaders(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    /** The headers of an event in binary mode. */
    Headers headers(Event<?> e) {
        RecordHeaders h = new RecordHeaders();
        put(h, "ce_specversion", e.specVersion());
        put(h, "ce_id", e.id());
        put(h, "ce_source", e.source());
        put(h, "ce_type", e.type());
        put(h, "ce_time", e.time().toString());
        put(h, "ce_subject", e.subject());
        put(h, "content-type", e.dataContentType() != null ? e.dataContentType() : "application/json");
        put(h, "ce_partitionkey", e.partitionKey());
        put(h, "ce_tenant", e.tenant());
        put(h, "ce_correlationid", e.correlationId());
        put(h, "ce_causationid", e.causationId());
        put(h, "traceparent", e.traceparent());
        return h;
    }

    /** The record value of an event's data in binary mode: bytes as they are, anything else as JSON. */
    byte[] value(Event<?> e) {
        Object data = e.data();
        if (data == null) {
            return null;
        }
        if (data instanceof byte[] bytes) {
            return bytes;
        }
        try {
            return mapper.writeValueAsBytes(data);
        } catch (IOException ex) {
            throw new UncheckedIOException("the data of event " + e.id() + " cannot be written as JSON", ex);
        }
    }

    /** Whether the headers carry an event in binary mode. */
    static boolean isBinary(Headers headers) {
        return headers.lastHeader("ce_specversion") != null;
    }

    /**
     * The event a binary-mode record carries: its data parsed as JSON when the content type is JSON, bytes
     * otherwise.
     *
     * @throws IllegalArgumentException when a required attribute is missing or the data is not what it says
     */
    Event<Object> read(Headers headers, byte[] value) {
        String id = text(headers, "ce_id");
        String source = text(headers, "ce_source");
        String type = text(headers, "ce_type");
        if (id == null || source == null || type == null) {
            throw new IllegalArgumentException("a binary-mode CloudEvent needs ce_id, ce_source and ce_type headers");
        }
        String contentType = text(headers, "content-type");
        Object data = value;
        if (value != null && isJson(contentType)) {
            try {
                data = mapper.readValue(value, Object.class);
            } catch (IOException e) {
                throw new IllegalArgumentException("the data is not the JSON its content type says: " + e.getMessage());
            }
        }
        Event.Builder<Object> b = Event.builder(type, data).id(id).source(source);
        String time = text(headers, "ce_time");
        b.time(time == null ? Instant.now() : EnvelopeCodec.instant(time));
        if (contentType != null) {
            b.dataContentType(contentType);
        }
        String subject = text(headers, "ce_subject");
        if (subject != null) {
            b.subject(subject);
        }
        String key = text(headers, "ce_partitionkey");
        if (key != null) {
            b.key(key);
        }
        String tenant = text(headers, "ce_tenant");
        if (tenant != null) {
            b.tenant(tenant);
        }
        String correlation = text(headers, "ce_correlationid");
        if (correlation != null) {
            b.correlationId(correlation);
        }
        String causation = text(headers, "ce_causationid");
        if (causation != null) {
            b.causationId(causation);
        }
        String trace = text(headers, "traceparent");
        if (trace != null) {
            b.traceparent(trace);
        }
        return b.build();
    }

    static boolean isJson(String contentType) {
        if (contentType == null) {
            return true;
        }
        String t = contentType.toLowerCase(java.util.Locale.ROOT);
        int semicolon = t.indexOf(';');
        if (semicolon >= 0) {
            t = t.substring(0, semicolon).trim();
        }
        return t.equals("application/json") || t.endsWith("+json") || t.equals("text/json");
    }

    static String text(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static void put(RecordHeaders h, String name, String value) {
        if (value != null) {
            h.add(name, value.getBytes(StandardCharsets.UTF_8));
        }
    }
}
