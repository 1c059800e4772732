package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.NullNode;
import com.networknt.schema.AbsoluteIri;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaException;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.SpecVersionDetector;
import com.networknt.schema.ValidationMessage;
import com.networknt.schema.resource.InputStreamSource;
import dev.keel.Event;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The JSON Schemas ingested events are checked against, one per event type. An event whose data does not
 * match its type's schema is refused with a 400 problem naming each violation; types without a schema pass.
 * Schemas use the draft their {@code $schema} names (2020-12 when none), and never load anything over the
 * network: a {@code $ref} must point inside the schema.
 */
final class EventSchemas {
    private static final int MAX_MESSAGES = 5;

    private final Map<String, JsonSchema> byType = new HashMap<>();
    private final ObjectMapper mapper;

    /**
     * @throws IllegalArgumentException naming the type whose schema is not valid
     */
    EventSchemas(Map<String, JsonNode> schemas, ObjectMapper mapper) {
        this.mapper = mapper;
        schemas.forEach((type, schema) -> {
            try {
                dev.keel.EventType.requireValid(type);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(
                        "schemas: '" + type + "' is not an event type: " + e.getMessage(), e);
            }
            try {
                SpecVersion.VersionFlag version = SpecVersionDetector.detectOptionalVersion(schema, false)
                        .orElse(SpecVersion.VersionFlag.V202012);
                // Consulted before the library's own loaders (which would fetch URLs and read files): only the
                // bundled meta-schemas pass; any other reference stops here.
                JsonSchemaFactory factory = JsonSchemaFactory.getInstance(
                        version, b -> b.schemaLoaders(loaders -> loaders.add(EventSchemas::refuseOutside)));
                JsonSchema compiled = factory.getSchema(schema);
                compiled.initializeValidators(); // resolves every $ref now, not at the first event
                byType.put(type, compiled);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(
                        "the schema of '" + type + "' is not a usable JSON Schema: " + e.getMessage(), e);
            }
        });
    }

    /** Lets the library find the meta-schemas it bundles; refuses everything else a schema refers to. */
    private static InputStreamSource refuseOutside(AbsoluteIri iri) {
        String text = iri.toString();
        if (text.startsWith("classpath:draft/") || text.startsWith("classpath:/draft/")) {
            return null; // the library's bundled meta-schemas, loaded by its own loader
        }
        throw new JsonSchemaException("it refers to '" + text + "', outside itself; a schema may only refer to its own"
                + " parts ($ref to #/$defs/...), as nothing is loaded from the network or from files");
    }

    /** Whether any schema is registered. */
    boolean isEmpty() {
        return byType.isEmpty();
    }

    /** The types with a schema. */
    Set<String> types() {
        return Set.copyOf(byType.keySet());
    }

    /**
     * Checks the event's data against its type's schema.
     *
     * @param where how the event is named in a problem ("the event", "event 3 of the batch")
     * @throws ProblemException 400 when it does not match
     */
    void check(Event<?> event, String where) {
        JsonSchema schema = byType.get(event.type());
        if (schema == null) {
            return;
        }
        Object data = event.data();
        if (data instanceof byte[]) {
            throw ProblemException.badRequest(
                    "schema-violation",
                    where + " has binary data, but events of type '" + event.type()
                            + "' must carry JSON data matching their schema");
        }
        JsonNode node = data == null ? NullNode.getInstance() : mapper.valueToTree(data);
        Set<ValidationMessage> errors = schema.validate(node);
        if (!errors.isEmpty()) {
            List<String> messages = errors.stream()
                    .map(ValidationMessage::getMessage)
                    .sorted()
                    .limit(MAX_MESSAGES)
                    .toList();
            throw ProblemException.badRequest(
                    "schema-violation",
                    where + ": its data does not match the schema of '" + event.type() + "': "
                            + messages.stream().collect(Collectors.joining("; "))
                            + (errors.size() > MAX_MESSAGES
                                    ? " (and " + (errors.size() - MAX_MESSAGES) + " more)"
                                    : ""));
        }
    }
}
