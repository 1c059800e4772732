package dev.keel.codecs;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.keel.DataCodec;
import java.io.IOException;
import java.util.Objects;
import org.msgpack.jackson.dataformat.MessagePackFactory;

/**
 * Event data as MessagePack, through Jackson ({@code jackson-dataformat-msgpack}): the same records and classes
 * that go to JSON go to MessagePack, in fewer bytes. Emit with {@code dataContentType(MessagePackCodec.CONTENT_TYPE)};
 * a handler gets the data as its own type, as it would from JSON. Reads {@code application/msgpack}, and the
 * {@code application/x-msgpack} and {@code application/vnd.msgpack} others write.
 */
public final class MessagePackCodec implements DataCodec {
    /** The content type it records. */
    public static final String CONTENT_TYPE = "application/msgpack";

    private final ObjectMapper mapper;

    /** MessagePack with Java time types, ignoring properties a class does not have (as Keel's JSON does). */
    public MessagePackCodec() {
        this(new ObjectMapper(new MessagePackFactory())
                .registerModule(new JavaTimeModule())
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES));
    }

    /** MessagePack with this mapper, which must be built on a {@link MessagePackFactory}. */
    public MessagePackCodec(ObjectMapper mapper) {
        if (!(Objects.requireNonNull(mapper, "mapper").getFactory() instanceof MessagePackFactory)) {
            throw new IllegalArgumentException("a MessagePack codec needs a mapper built on a MessagePackFactory,"
                    + " but this one writes " + mapper.getFactory().getFormatName());
        }
        this.mapper = mapper;
    }

    @Override
    public String mediaType() {
        return CONTENT_TYPE;
    }

    @Override
    public boolean decodes(String contentType) {
        if (contentType == null) {
            return false;
        }
        String media = DataCodec.mediaTypeOf(contentType);
        return media.equals(CONTENT_TYPE)
                || media.equals("application/x-msgpack")
                || media.equals("application/vnd.msgpack");
    }

    @Override
    public Encoded encode(Object data) {
        try {
            return new Encoded(mapper.writeValueAsBytes(data), CONTENT_TYPE);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "data of class " + data.getClass().getName() + " cannot be written as MessagePack: "
                            + e.getMessage(),
                    e);
        }
    }

    @Override
    public <T> T decode(byte[] bytes, String contentType, Class<T> type) {
        try {
            return mapper.readValue(bytes, type);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "MessagePack data cannot be read as " + type.getName() + ": " + e.getMessage(), e);
        }
    }
}
