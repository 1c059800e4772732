package dev.keel.internal.payload;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.keel.DataCodec;
import dev.keel.Event;
import dev.keel.InvalidEventException;
import dev.keel.PermanentFailureException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Converts event data to the type a handler takes, encodes data with the codec its event names (see {@link
 * DataCodec}), and measures payloads against the size limit.
 */
public final class PayloadCodec {
    private final ObjectMapper mapper;
    private final List<DataCodec> codecs;

    /** JSON with the mapper, and the codecs on the class path. */
    public PayloadCodec(ObjectMapper mapper) {
        this(mapper, discovered());
    }

    /** JSON with the mapper, and these codecs for other content types. */
    public PayloadCodec(ObjectMapper mapper, List<DataCodec> codecs) {
        this.mapper = mapper;
        this.codecs = List.copyOf(codecs);
    }

    /** The codecs {@link ServiceLoader} finds under {@link DataCodec}, JSON ones aside (JSON is the mapper's). */
    private static List<DataCodec> discovered() {
        return ServiceLoader.load(DataCodec.class, DataCodec.class.getClassLoader()).stream()
                .map(ServiceLoader.Provider::get)
                .filter(c -> !DataCodec.JSON.equals(c.mediaType()))
                .toList();
    }

    /** The codecs besides JSON. */
    public List<DataCodec> codecs() {
        return codecs;
    }

    /**
     * The event with its data encoded by the codec that claims it or that its content type names, or the event as
     * it is when that is JSON (or bytes already).
     *
     * @throws InvalidEventException when the codec cannot write the data
     */
    public Event<?> encode(Event<?> event) {
        Object data = event.data();
        if (data == null || data instanceof byte[] || codecs.isEmpty()) {
            return event;
        }
        DataCodec codec = null;
        for (DataCodec c : codecs) {
            if (c.claims(data)) {
                codec = c;
                break;
            }
        }
        if (codec == null) {
            codec = decoderOf(event.dataContentType());
        }
        if (codec == null) {
            return event;
        }
        DataCodec.Encoded encoded;
        try {
            encoded = codec.encode(data);
        } catch (IllegalArgumentException e) {
            throw new InvalidEventException("data of event type '" + event.type() + "' cannot be written as "
                    + codec.mediaType() + ": " + e.getMessage());
        }
        return event.toBuilder().dataContentType(encoded.contentType()).build().withData(encoded.bytes());
    }

    private DataCodec decoderOf(String contentType) {
        if (contentType == null) {
            return null;
        }
        for (DataCodec c : codecs) {
            if (c.decodes(contentType)) {
                return c;
            }
        }
        return null;
    }

    public static ObjectMapper defaultMapper() {
        return new ObjectMapper()
                .registerModule(new JavaTimeModule())
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    }

    public ObjectMapper mapper() {
        return mapper;
    }

    @SuppressWarnings("unchecked")
    public <T> Event<T> convert(Event<?> event, Class<T> type) {
        Object data = event.data();
        if (data == null || type == Object.class || type.isInstance(data)) {
            return (Event<T>) event;
        }
        try {
            T converted;
            DataCodec codec;
            if (data instanceof byte[] bytes && (codec = decoderOf(event.dataContentType())) != null) {
                converted = codec.decode(bytes, event.dataContentType(), type);
            } else if (data instanceof byte[] bytes) {
                converted = mapper.readValue(bytes, type);
            } else if (data instanceof String s && type != String.class && looksLikeJson(s)) {
                converted = mapper.readValue(s, type);
            } else if (type == String.class && data instanceof JsonNode node) {
                converted = (T) node.toString();
            } else {
                converted = mapper.convertValue(data, type);
            }
            return event.withData(converted);
        } catch (IOException | IllegalArgumentException e) {
            throw new PermanentFailureException(
                    "data of event " + event.id() + " (type '" + event.type() + "') cannot be read as " + type.getName()
                            + ": " + e.getMessage(),
                    e);
        }
    }

    /** The payload's size in bytes, exact up to {@code limit}; above it, some number over the limit. */
    public long sizeOf(Object data, long limit) {
        if (data == null) {
            return 0;
        }
        if (data instanceof byte[] bytes) {
            return bytes.length;
        }
        if (data instanceof CharSequence s) {
            if ((long) s.length() * 3 <= limit) {
                return s.length();
            }
            return s.toString().getBytes(StandardCharsets.UTF_8).length;
        }
        if (data instanceof Number || data instanceof Boolean || data instanceof Character || data instanceof Enum<?>) {
            return 32;
        }
        CountingStream counter = new CountingStream(limit);
        try {
            mapper.writeValue(counter, data);
        } catch (LimitReached e) {
            return counter.count;
        } catch (IOException e) {
            throw new InvalidEventException("event data of class "
                    + data.getClass().getName() + " cannot be written as JSON: " + e.getMessage());
        }
        return counter.count;
    }

    private static boolean looksLikeJson(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!Character.isWhitespace(c)) {
                return c == '{' || c == '[';
            }
        }
        return false;
    }

    private static final class LimitReached extends IOException {
        private static final long serialVersionUID = 1L;

        LimitReached() {
            super("payload limit reached", null);
        }
    }

    /** Counts bytes and stops the writer once the limit is passed, so huge payloads are not written out. */
    private static final class CountingStream extends OutputStream {
        private final long limit;
        long count;

        CountingStream(long limit) {
            this.limit = limit;
        }

        @Override
        public void write(int b) throws IOException {
            add(1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            add(len);
        }

        private void add(long n) throws LimitReached {
            count += n;
            if (count > limit) {
                throw new LimitReached();
            }
        }
    }
}
