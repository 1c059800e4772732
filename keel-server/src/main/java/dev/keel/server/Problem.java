package dev.keel.server;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An RFC 9457 problem: what every error response of the HTTP API carries, as {@code application/problem+json}.
 *
 * @param type a URI naming the kind of problem (relative to the API)
 * @param title a short summary of the kind of problem
 * @param status the HTTP status
 * @param detail what was wrong with this request and what to do about it
 */
public record Problem(String type, String title, int status, String detail) {
    /** The media type of problem responses. */
    public static final String MEDIA_TYPE = "application/problem+json";

    Map<String, Object> body(String instance) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", type);
        body.put("title", title);
        body.put("status", status);
        body.put("detail", detail);
        body.put("instance", instance);
        return body;
    }
}
