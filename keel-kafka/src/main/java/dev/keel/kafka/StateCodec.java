package dev.keel.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.DeadLetter;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.JournalException;
import dev.keel.spi.OutcomeCodec;
import dev.keel.spi.Pending;
import java.io.IOException;

/**
 * The values Keel keeps in its own topics, as JSON documents: pending deliveries and dead letters in the form
 * every engine without tables shares ({@link OutcomeCodec}), and the small records of cursors, tallies, pauses and
 * claims.
 */
final class StateCodec {
    private final ObjectMapper mapper;
    private final OutcomeCodec outcomes;

    StateCodec(ObjectMapper mapper) {
        this.mapper = mapper;
        this.outcomes = new OutcomeCodec(mapper);
    }

    EnvelopeCodec envelopes() {
        return outcomes.envelopes();
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
        return outcomes.pending(p);
    }

    Pending pending(JsonNode n) {
        return outcomes.pending(n);
    }

    byte[] deadLetter(DeadLetter d) {
        return outcomes.deadLetter(d);
    }

    DeadLetter deadLetter(JsonNode n) {
        return outcomes.deadLetter(n);
    }
}
