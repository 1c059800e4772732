package dev.keel.server;

import dev.keel.Event;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An event in the CloudEvents JSON format (structured mode), as the server sends it: in webhook bodies, in
 * Server-Sent Events and in dead-letter answers. Keel's extensions are written as lower-case attributes,
 * the names {@link CloudEventReader} reads.
 */
final class CloudEventJson {
    private CloudEventJson() {}

    /** The event as a JSON object, attributes first, then {@code data} (or {@code data_base64} for bytes). */
    static Map<String, Object> structured(Event<?> e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("specversion", e.specVersion());
        m.put("id", e.id());
        m.put("source", e.source());
        m.put("type", e.type());
        m.put("time", e.time().toString());
        putIfSet(m, "subject", e.subject());
        putIfSet(m, "datacontenttype", e.dataContentType());
        putIfSet(m, "partitionkey", e.partitionKey());
        putIfSet(m, "tenant", e.tenant());
        putIfSet(m, "idempotencykey", e.idempotencyKey());
        putIfSet(m, "correlationid", e.correlationId());
        putIfSet(m, "causationid", e.causationId());
        putIfSet(m, "traceparent", e.traceparent());
        if (e.depth() > 0) {
            m.put("depth", e.depth());
        }
        if (e.priority() != 0) {
            m.put("priority", e.priority());
        }
        if (e.deliverAt() != null) {
            m.put("deliverat", e.deliverAt().toString());
        }
        if (e.data() instanceof byte[] bytes) {
            m.put("data_base64", Base64.getEncoder().encodeToString(bytes));
        } else if (e.data() != null) {
            m.put("data", e.data());
        }
        return m;
    }

    private static void putIfSet(Map<String, Object> m, String name, Object value) {
        if (value != null) {
            m.put(name, value);
        }
    }
}
