package dev.keel.server;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** A Server-Sent Events client for tests: parses frames as the EventSource specification does. */
final class SseClient implements AutoCloseable {
    /** One dispatched frame; {@code event} is "message" when the frame named none. */
    record Frame(String id, String event, String data, String retry) {}

    /** Marks the end of the stream in the queue. */
    static final Frame END = new Frame(null, "end", null, null);

    private final HttpResponse<InputStream> response;
    private final BlockingQueue<Frame> frames = new LinkedBlockingQueue<>();
    private final BlockingQueue<String> comments = new LinkedBlockingQueue<>();
    private Thread reader;

    private SseClient(HttpResponse<InputStream> response, boolean read) {
        this.response = response;
        if (read) {
            startReading();
        }
    }

    /** Connects; {@code headers} are name, value pairs. */
    static SseClient connect(int port, String pathAndQuery, String... headers) throws Exception {
        return connect(port, pathAndQuery, true, headers);
    }

    /** Connects; with {@code read} false nothing is read until {@link #startReading()}. */
    static SseClient connect(int port, String pathAndQuery, boolean read, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + pathAndQuery))
                .header("Accept", "text/event-stream");
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        HttpResponse<InputStream> r =
                HttpClient.newHttpClient().send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        return new SseClient(r, read && r.statusCode() == 200);
    }

    SseClient startReading() {
        reader = Thread.ofVirtual().start(this::read);
        return this;
    }

    int status() {
        return response.statusCode();
    }

    /** A response header, or null when absent. */
    String header(String name) {
        return response.headers().firstValue(name).orElse(null);
    }

    String contentType() {
        return response.headers().firstValue("Content-Type").orElse("");
    }

    /** The body of a refused connection. */
    String errorBody() throws Exception {
        try (InputStream in = response.body()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The next frame, or null after the wait. */
    Frame next(Duration wait) throws InterruptedException {
        return frames.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The next comment line (without the colon), or null after the wait. */
    String comment(Duration wait) throws InterruptedException {
        return comments.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void read() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String id = null;
            String event = null;
            String retry = null;
            StringBuilder data = null;
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    if (data != null || event != null) {
                        frames.add(new Frame(
                                id, event == null ? "message" : event, data == null ? null : data.toString(), retry));
                    }
                    id = null;
                    event = null;
                    retry = null;
                    data = null;
                } else if (line.startsWith(":")) {
                    comments.add(line.substring(1).trim());
                } else {
                    int colon = line.indexOf(':');
                    String field = colon < 0 ? line : line.substring(0, colon);
                    String value = colon < 0 ? "" : line.substring(colon + 1).stripLeading();
                    switch (field) {
                        case "id" -> id = value;
                        case "event" -> event = value;
                        case "retry" -> retry = value;
                        case "data" ->
                            data = data == null
                                    ? new StringBuilder(value)
                                    : data.append('\n').append(value);
                        default -> {}
                    }
                }
            }
        } catch (Exception e) {
            // closed
        } finally {
            frames.add(END);
        }
    }

    @Override
    public void close() throws Exception {
        response.body().close();
        if (reader != null) {
            reader.interrupt();
        }
    }
}
