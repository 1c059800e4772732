package dev.keel;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.internal.payload.JsonDataCodec;
import java.util.Locale;

/**
 * How event data becomes bytes and back, named by the event's {@code dataContentType}. JSON is the default and
 * needs nothing: data stays an object until the journal writes it as JSON. Other codecs (MessagePack and Protobuf
 * in {@code keel-codecs}) are found on the class path ({@link java.util.ServiceLoader}, under this interface):
 * an event whose content type one of them writes, or whose data one of them claims (a Protobuf message), is
 * encoded to bytes at emit and stored with the codec's content type; a handler taking another type than {@code
 * byte[]} or {@code Object} gets the data decoded to its type by the codec the content type names, whoever wrote
 * it. Data a codec cannot decode to the handler's type is a {@link PermanentFailureException}: the event is
 * dead-lettered with a message saying what it holds and what was asked for.
 *
 * <p>Choose the codec per emit: {@code Event.builder("order.placed", order).dataContentType("application/msgpack")}.
 */
public interface DataCodec {
    /** The content type of JSON data. */
    String JSON = "application/json";

    /** The media type this codec records for what it encodes, without parameters (e.g. {@code application/msgpack}). */
    String mediaType();

    /** Whether it decodes data of this content type: by default, when the media type (parameters aside) is its own. */
    default boolean decodes(String contentType) {
        return contentType != null && mediaTypeOf(contentType).equals(mediaType());
    }

    /** Whether data of this class must be written by this codec whatever content type the event names. */
    default boolean claims(Object data) {
        return false;
    }

    /**
     * The data as bytes, with the content type to record.
     *
     * @throws IllegalArgumentException when this codec cannot write it
     */
    Encoded encode(Object data);

    /**
     * Bytes this codec wrote, as {@code type}.
     *
     * @throws IllegalArgumentException when they cannot be read as {@code type}, saying why
     */
    <T> T decode(byte[] bytes, String contentType, Class<T> type);

    /**
     * Encoded data.
     *
     * @param bytes the data
     * @param contentType what to record as the event's {@code dataContentType}
     */
    record Encoded(byte[] bytes, String contentType) {}

    /** JSON with the mapper: the default codec, always there. */
    static DataCodec json(ObjectMapper mapper) {
        return new JsonDataCodec(mapper);
    }

    /** The media type of a content type: lower case, without parameters ({@code application/protobuf}). */
    static String mediaTypeOf(String contentType) {
        int semicolon = contentType.indexOf(';');
        String type = semicolon < 0 ? contentType : contentType.substring(0, semicolon);
        return type.strip().toLowerCase(Locale.ROOT);
    }

    /** A parameter of a content type ({@code messageType} in {@code application/protobuf; messageType=x.Y}), or null. */
    static String parameterOf(String contentType, String name) {
        String[] parts = contentType.split(";");
        for (int i = 1; i < parts.length; i++) {
            String part = parts[i].strip();
            int eq = part.indexOf('=');
            if (eq > 0 && part.substring(0, eq).strip().equalsIgnoreCase(name)) {
                String value = part.substring(eq + 1).strip();
                return value.length() > 1 && value.startsWith("\"") && value.endsWith("\"")
                        ? value.substring(1, value.length() - 1)
                        : value;
            }
        }
        return null;
    }
}
