package dev.keel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import picocli.CommandLine.Option;

/** The options and HTTP calls the client commands share: where the server is and the token to use. */
final class GatewayClient {
    static final ObjectMapper JSON = new ObjectMapper();

    @Option(
            names = "--url",
            defaultValue = "${env:KEEL_URL:-http://127.0.0.1:8080}",
            description = "The server (KEEL_URL; default ${DEFAULT-VALUE}).")
    String url;

    @Option(names = "--token", defaultValue = "${env:KEEL_TOKEN}", description = "A bearer token (KEEL_TOKEN).")
    String token;

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** A call that failed: the message says what happened in one line. */
    static final class CallFailed extends RuntimeException {
        CallFailed(String message) {
            super(message);
        }

        CallFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The answer, or {@link CallFailed} with the server's problem or the connection failure. */
    JsonNode call(String method, String path, String contentType, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url.replaceAll("/+$", "") + path))
                .timeout(Duration.ofSeconds(60))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        if (token != null && !token.isBlank()) {
            b.header("Authorization", "Bearer " + token);
        }
        try {
            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
            JsonNode answer = r.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(r.body());
            if (r.statusCode() >= 400) {
                String detail = answer.path("detail").asText(r.body());
                throw new CallFailed(r.statusCode() + " " + answer.path("title").asText("") + ": " + detail);
            }
            return answer;
        } catch (ConnectException e) {
            throw new CallFailed("cannot reach " + url + "; is `keel serve` running there?", e);
        } catch (IOException e) {
            throw new CallFailed("the call to " + url + path + " failed: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CallFailed("interrupted", e);
        }
    }
}
