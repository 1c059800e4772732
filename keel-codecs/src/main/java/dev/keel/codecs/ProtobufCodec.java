package dev.keel.codecs;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.keel.DataCodec;

/**
 * Event data that is a Protobuf {@link Message}, stored as its bytes with the content type {@code
 * application/protobuf; messageType=<full name>}; emitting a message is enough to choose it. A handler taking
 * that message's class gets it parsed with the class's own parser; a handler taking another message class, or a
 * class that is not a message, is refused (the event is dead-lettered saying what it holds). Also reads {@code
 * application/x-protobuf}, which others write, where the message type may not be named.
 */
public final class ProtobufCodec implements DataCodec {
    /** The media type it records, before its {@code messageType} parameter. */
    public static final String MEDIA_TYPE = "application/protobuf";

    /** The content type of a message of this full name. */
    public static String contentType(String fullName) {
        return MEDIA_TYPE + "; messageType=" + fullName;
    }

    /** Each message class's default instance, which knows its parser and its type's full name. */
    private static final ClassValue<Message> DEFAULTS = new ClassValue<>() {
        @Override
        protected Message computeValue(Class<?> type) {
            try {
                return (Message) type.getMethod("getDefaultInstance").invoke(null);
            } catch (ReflectiveOperationException | ClassCastException e) {
                throw new IllegalArgumentException(
                        type.getName() + " has no default instance to parse with (is it a generated message class?)",
                        e);
            }
        }
    };

    /** The codec; its parsers are found per message class and kept. */
    public ProtobufCodec() {}

    @Override
    public String mediaType() {
        return MEDIA_TYPE;
    }

    @Override
    public boolean decodes(String contentType) {
        if (contentType == null) {
            return false;
        }
        String media = DataCodec.mediaTypeOf(contentType);
        return media.equals(MEDIA_TYPE) || media.equals("application/x-protobuf");
    }

    @Override
    public boolean claims(Object data) {
        return data instanceof Message;
    }

    @Override
    public Encoded encode(Object data) {
        if (!(data instanceof Message message)) {
            throw new IllegalArgumentException("Protobuf writes com.google.protobuf.Message data only, but this is a "
                    + data.getClass().getName() + "; emit a message, or another content type");
        }
        return new Encoded(
                message.toByteArray(),
                contentType(message.getDescriptorForType().getFullName()));
    }

    @Override
    public <T> T decode(byte[] bytes, String contentType, Class<T> type) {
        String held = DataCodec.parameterOf(contentType, "messageType");
        if (!Message.class.isAssignableFrom(type)) {
            throw new IllegalArgumentException("Protobuf data" + (held == null ? "" : " (" + held + ")")
                    + " can be read only as a com.google.protobuf.Message class or as byte[], not as "
                    + type.getName());
        }
        Message prototype = DEFAULTS.get(type);
        String asked = prototype.getDescriptorForType().getFullName();
        if (held != null && !held.equals(asked)) {
            throw new IllegalArgumentException(
                    "the event holds a " + held + " message, and " + type.getName() + " reads " + asked);
        }
        try {
            Message message = prototype.getParserForType().parseFrom(bytes);
            return type.cast(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException(
                    "Protobuf data cannot be read as " + type.getName() + ": " + e.getMessage(), e);
        }
    }
}
