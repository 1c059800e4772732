package dev.keel.spi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.AttemptError;
import dev.keel.DeadLetter;
import dev.keel.Event;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The JSON form of what an engine without tables keeps beside its log: pending deliveries and dead letters, each
 * with its event in the CloudEvents JSON envelope every engine stores ({@link EnvelopeCodec}). One form for every
 * such engine, so that what one writes another tool can read.
 */
public final class OutcomeCodec {
    private final ObjectMapper mapper;
    private final EnvelopeCodec envelopes;

    public OutcomeCodec(ObjectMapper mapper) {
        this.mapper = mapper;
        this.envelopes = new EnvelopeCodec(mapper);
    }

    /** The envelope codec the events inside use. */
    public EnvelopeCodec envelopes() {
        return envelopes;
    }

    /** A pending delivery as JSON. */
    public byte[] pending(Pending p) {
        ObjectNode n = mapper.createObjectNode();
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
        n.set("event", tree(envelopes.write(p.event())));
        return bytes(n);
    }

    /**
     * A pending delivery read back.
     *
     * @throws JournalException when the value is not one
     */
    public Pending pending(byte[] value) {
        return pending(tree(value));
    }

    /** A pending delivery read back from its tree. */
    public Pending pending(JsonNode n) {
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

    /** A dead letter as JSON. */
    public byte[] deadLetter(DeadLetter d) {
        ObjectNode n = mapper.createObjectNode();
        n.put("id", d.id());
        n.put("subscription", d.subscription());
        n.put("lane", d.lane());
        n.put("sequence", d.sequence());
        n.set("errors", errors(d.errors()));
        n.put("reason", d.reason());
        n.put("deadLetteredAt", d.deadLetteredAt().toString());
        n.put("replayCount", d.replayCount());
        n.put("poison", d.poison());
        n.set("event", tree(envelopes.write(d.event())));
        return bytes(n);
    }

    /**
     * A dead letter read back.
     *
     * @throws JournalException when the value is not one
     */
    public DeadLetter deadLetter(byte[] value) {
        return deadLetter(tree(value));
    }

    /** A dead letter read back from its tree. */
    public DeadLetter deadLetter(JsonNode n) {
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

    private byte[] bytes(JsonNode node) {
        try {
            return mapper.writeValueAsBytes(node);
        } catch (IOException e) {
            throw new JournalException("a Keel record could not be written as JSON: " + e.getMessage(), e);
        }
    }

    private JsonNode tree(byte[] value) {
        try {
            return mapper.readTree(value);
        } catch (IOException e) {
            throw new JournalException(
                    "a record in Keel's store is not JSON (" + e.getMessage() + "); was it written by something else?",
                    e);
        }
    }

    private Event<Object> event(JsonNode n) {
        return envelopes.read(bytes(n));
    }

    private ArrayNode errors(List<AttemptError> errors) {
        ArrayNode array = mapper.createArrayNode();
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
