package dev.keel.internal.payload;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.DataCodec;
import java.io.IOException;

/** JSON through Jackson: the default codec. */
public final class JsonDataCodec implements DataCodec {
    private final ObjectMapper mapper;

    public JsonDataCodec(ObjectMapper mapper) {
        this.mapper = mapper;
    }

    @Override
    public String mediaType() {
        return JSON;
    }

    @Override
    public Encoded encode(Object data) {
        try {
            return new Encoded(mapper.writeValueAsBytes(data), JSON);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "data of class " + data.getClass().getName() + " cannot be written as JSON: " + e.getMessage(), e);
        }
    }

    @Override
    public <T> T decode(byte[] bytes, String contentType, Class<T> type) {
        try {
            return mapper.readValue(bytes, type);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "JSON data cannot be read as " + type.getName() + ": " + e.getMessage(), e);
        }
    }
}
