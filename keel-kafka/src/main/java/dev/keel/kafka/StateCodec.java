package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.Event;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.JournalException;
import dev.keel.spi.Pending;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The values Keel keeps in its own topics, as JSON documents: pending deliveries, dead letters, and the small
 * records of cursors, tallies, pauses and claims. Events inside them use the CloudEvents JSON envelope every
 * engine stores ({@link EnvelopeCodec}).
 */
final class StateCodec {
    private final ObjectMapper mapper;
    private final EnvelopeCodec envelopes;

    StateCodec(ObjectMapper mapper) {
        this.mapper = mapper;
        this.envelopes = new EnvelopeCodec(mapper);
    }

    EnvelopeCodec envelopes() {
        return envelopes;
    }

    ObjectNode object() {
        return mapper.createObjectNode();
    }

    byte[] bytes(JsonNode node) {
        try {
            return mapper.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new JournalException("a Keel record could not be written as JSON: " + e.getMessage(), e);
        }
    }

    JsonNode tree(byte[] value) {
        try {
            return mapper.readTree(value);
        } catch (IOException e) {
            throw new JournalException(
                    "a record in one of Keel's topics is not JSON (" + e.getMessage()
                            + "); was the topic written by something else?",
                    e);
        }
    }

    byte[] pending(Pending p) {
        ObjectNode n = object();
        n.put("subscription", p.subscription());
        n.put("lane", p.lane());
        n.put("sequence", p.sequence());
        n.put("scope", p.scope());
        n.put("parked", p.parked());
        n.put("attempt", p.attempt());
        if (p.dueAt() != null) {
            n.put("dueAt", p.dueAt().toString());
        }
        n.set("errors", errors(p.errors()));
        n.put("replayCount", p.replayCount());
        n.set("event", event(p.event()));
        return bytes(n);
    }

    Pending pending(JsonNode n) {
        return new Pending(
                n.get("subscription").asText(),
                n.get("lane").asInt(),
                n.get("sequence").asLong(),
                n.path("scope").isNull() ? null : n.path("scope").asText(null),
                n.get("parked").asBoolean(),
                n.get("attempt").asInt(),
                n.has("dueAt") ? EnvelopeCodec.instant(n.get("dueAt").asText()) : null,
                errors(n.get("errors")),
                n.get("replayCount").asInt(),
                event(n.get("event")));
    }

    byte[] deadLetter(DeadLetter d) {
        ObjectNode n = object();
        n.put("id", d.id());
        n.put("subscription", d.subscription());
        n.put("lane", d.lane());
        n.put("sequence", d.sequence());
        n.set("errors", errors(d.errors()));
        n.put("reason", d.reason());
        n.put("deadLetteredAt", d.deadLetteredAt().toString());
        n.put("replayCount", d.replayCount());
        n.put("poison", d.poison());
        n.set("event", event(d.event()));
        return bytes(n);
    }

    DeadLetter deadLetter(JsonNode n) {
        return new DeadLetter(
                n.get("id").asText(),
                n.get("subscription").asText(),
                n.get("lane").asInt(),
                n.get("sequence").asLong(),
                event(n.get("event")),
                errors(n.get("errors")),
                n.path("reason").asText(null),
                EnvelopeCodec.instant(n.get("deadLetteredAt").asText()),
                n.get("replayCount").asInt(),
                n.get("poison").asBoolean());
    }

    private JsonNode event(Event<?> e) {
        return tree(envelopes.write(e));
    }

    private Event<Object> event(JsonNode n) {
        return envelopes.read(bytes(n));
    }

    private JsonNode errors(List<AttemptError> errors) {
        var array = mapper.createArrayNode();
        for (AttemptError e : errors) {
            ObjectNode o = array.addObject();
            o.put("attempt", e.attempt());
            o.put("at", e.at().toString());
            o.put("errorType", e.errorType());
            o.put("message", e.message());
        }
        return array;
    }

    private static List<AttemptError> errors(JsonNode array) {
        List<AttemptError> out = new ArrayList<>();
        if (array != null) {
            for (JsonNode o : array) {
                out.add(new AttemptError(
                        o.get("attempt").asInt(),
                        Instant.parse(o.get("at").asText()),
                        o.path("errorType").asText(null),
                        o.path("message").isNull() ? null : o.path("message").asText(null)));
            }
        }
        return out;
    }
}
