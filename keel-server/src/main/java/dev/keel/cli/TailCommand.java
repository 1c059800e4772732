package dev.keel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Follows a running server's event stream ({@code GET /v1/stream}), one line per event. Like a browser's
 * EventSource it reconnects with the last id it received, so nothing is missed or printed twice across a
 * server restart.
 */
@Command(
        name = "tail",
        mixinStandardHelpOptions = true,
        description = "Follow the events of `keel serve` as they are appended (Server-Sent Events).")
final class TailCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    GatewayClient client;

    @Option(
            names = "--types",
            defaultValue = "**",
            description = "Type patterns, comma-separated (default: every type).")
    String types;

    @Option(names = "--from", description = "Resume after this event id, as printed by --json or a stream.")
    String from;

    @Option(names = "--count", description = "Stop after this many events.")
    Integer count;

    @Option(names = "--json", description = "Print each event as its CloudEvent JSON, with the resume id.")
    boolean json;

    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (count != null && count < 1) {
            throw new IllegalArgumentException("--count must be at least 1 but was " + count);
        }
        String last = from;
        int printed = 0;
        Duration retry = Duration.ofSeconds(2);
        int failures = 0;
        while (true) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(client.url.replaceAll("/+$", "")
                            + "/v1/stream?types=" + URLEncoder.encode(types, StandardCharsets.UTF_8)))
                    .header("Accept", "text/event-stream");
            if (client.token != null && !client.token.isBlank()) {
                b.header("Authorization", "Bearer " + client.token);
            }
            if (last != null) {
                b.header("Last-Event-ID", last);
            }
            HttpResponse<java.io.InputStream> r;
            try {
                r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                // Refused or dropped: the server may be restarting. Give up after a minute or so.
                if (++failures > 30) {
                    throw new GatewayClient.CallFailed(
                            "cannot reach " + client.url + "; is `keel serve` running there? (" + e.getMessage() + ")");
                }
                Thread.sleep(retry.toMillis());
                continue;
            }
            int status = r.statusCode();
            if ((status == 429 || status == 502 || status == 503 || status == 504) && ++failures <= 30) {
                // Busy or restarting: wait as asked, then resume from the last event received.
                long wait = r.headers()
                        .firstValue("Retry-After")
                        .filter(v -> v.chars().allMatch(Character::isDigit) && !v.isEmpty())
                        .map(v -> Long.parseLong(v) * 1000)
                        .orElse(retry.toMillis());
                r.body().close();
                err.println("keel tail: the server answered " + status + "; retrying in " + wait + " ms");
                err.flush();
                Thread.sleep(wait);
                continue;
            }
            if (status != 200) {
                String body;
                try (var in = r.body()) {
                    body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                JsonNode problem =
                        body.isBlank() ? GatewayClient.JSON.createObjectNode() : GatewayClient.JSON.readTree(body);
                throw new GatewayClient.CallFailed(
                        r.statusCode() + " " + problem.path("title").asText("") + ": "
                                + problem.path("detail").asText(body));
            }
            failures = 0;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                String id = null;
                String event = null;
                StringBuilder data = null;
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.isEmpty()) {
                        if (data != null) {
                            if (event == null) {
                                print(out, id, data.toString());
                                if (count != null && ++printed >= count) {
                                    return 0;
                                }
                            } else {
                                err.println("keel tail: " + event + ": " + data);
                                err.flush();
                            }
                        }
                        if (id != null) {
                            last = id;
                        }
                        id = null;
                        event = null;
                        data = null;
                    } else if (line.startsWith("id:")) {
                        id = line.substring(3).strip();
                    } else if (line.startsWith("event:")) {
                        event = line.substring(6).strip();
                    } else if (line.startsWith("data:")) {
                        String value = line.substring(5).stripLeading();
                        data = data == null
                                ? new StringBuilder(value)
                                : data.append('\n').append(value);
                    } else if (line.startsWith("retry:")) {
                        try {
                            retry = Duration.ofMillis(
                                    Long.parseLong(line.substring(6).strip()));
                        } catch (NumberFormatException e) {
                            // keep the previous delay
                        }
                    }
                }
            } catch (IOException e) {
                // the connection dropped: reconnect below
            }
            err.println("keel tail: the stream ended; reconnecting from the last event received");
            err.flush();
            Thread.sleep(retry.toMillis());
        }
    }

    private void print(PrintWriter out, String id, String data) throws IOException {
        if (json) {
            out.println("{\"resume\":\"" + id + "\",\"event\":" + data + "}");
        } else {
            JsonNode e = GatewayClient.JSON.readTree(data);
            StringBuilder line = new StringBuilder()
                    .append(e.path("time").asText())
                    .append("  ")
                    .append(e.path("type").asText())
                    .append("  ")
                    .append(e.path("id").asText());
            if (e.hasNonNull("partitionkey")) {
                line.append("  key=").append(e.get("partitionkey").asText());
            }
            if (e.has("data")) {
                line.append("  ").append(e.get("data").toString());
            } else if (e.has("data_base64")) {
                line.append("  (")
                        .append(e.get("data_base64").asText().length() * 3 / 4)
                        .append(" bytes)");
            }
            out.println(line);
        }
        out.flush();
    }
}
