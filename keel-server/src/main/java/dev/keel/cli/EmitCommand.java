package dev.keel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Emits events through a running server: one, printing its id once it is durable, or {@code --count} of them
 * as load, in batches, with a progress bar.
 */
@Command(
        name = "emit",
        mixinStandardHelpOptions = true,
        description = "Emit an event through `keel serve`, or --count of them as load.")
final class EmitCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    GatewayClient client;

    @Option(names = "--type", required = true, description = "The event type, such as order.created.")
    String type;

    @Option(names = "--key", description = "The ordering key (partitionkey).")
    String key;

    @Option(names = "--source", defaultValue = "/keel-cli", description = "The source (default ${DEFAULT-VALUE}).")
    String source;

    @Option(names = "--id", description = "The event id (default: a random one).")
    String id;

    @Option(names = "--data", description = "The data, as JSON (a string that is not JSON is sent as text).")
    String data;

    @Option(names = "--count", defaultValue = "1", description = "How many events to emit (default 1).")
    int count;

    @Option(names = "--batch", defaultValue = "100", description = "Events a request with --count (default 100).")
    int batch;

    @Option(names = "--rate", description = "With --count: at most this many events a second.")
    Integer rate;

    @Override
    public Integer call() throws InterruptedException {
        if (count < 1) {
            throw new IllegalArgumentException("--count must be at least 1 but was " + count);
        }
        if (count > 1) {
            return load();
        }
        ObjectNode event = event(id != null ? id : UUID.randomUUID().toString());
        JsonNode answer = client.call("POST", "/v1/events", "application/cloudevents+json", event.toString());
        String accepted = answer.path("accepted").path(0).asText();
        spec.commandLine()
                .getOut()
                .println(answer.has("duplicates") ? accepted + " (a duplicate: stored before)" : accepted);
        return 0;
    }

    /** Emits {@code count} events in batches, paced to {@code rate}, drawing progress. */
    private int load() throws InterruptedException {
        if (batch < 1 || batch > 1_000) {
            throw new IllegalArgumentException("--batch must be from 1 to 1000 but was " + batch);
        }
        if (rate != null && rate < 1) {
            throw new IllegalArgumentException("--rate must be at least 1 but was " + rate);
        }
        if (id != null) {
            throw new IllegalArgumentException("--id names one event; leave it out with --count");
        }
        ProgressBar bar = ProgressBar.of(spec.commandLine().getErr(), "emit", count);
        long start = System.nanoTime();
        int sent = 0;
        while (sent < count) {
            int n = Math.min(batch, count - sent);
            com.fasterxml.jackson.databind.node.ArrayNode events = GatewayClient.JSON.createArrayNode();
            for (int i = 0; i < n; i++) {
                events.add(event(UUID.randomUUID().toString()));
            }
            client.call("POST", "/v1/events", "application/cloudevents-batch+json", events.toString());
            sent += n;
            bar.advance(n);
            if (rate != null) {
                long due = start + (long) (sent * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    java.util.concurrent.TimeUnit.NANOSECONDS.sleep(wait);
                }
            }
        }
        bar.finish();
        double seconds = (System.nanoTime() - start) / 1e9;
        spec.commandLine()
                .getOut()
                .printf("emitted %d events in %.1f s (%.0f events/s)%n", sent, seconds, sent / seconds);
        return 0;
    }

    private ObjectNode event(String eventId) {
        ObjectNode event = GatewayClient.JSON.createObjectNode();
        event.put("specversion", "1.0");
        event.put("id", eventId);
        event.put("source", source);
        event.put("type", type);
        if (key != null) {
            event.put("partitionkey", key);
        }
        if (data != null) {
            try {
                event.set("data", GatewayClient.JSON.readTree(data));
            } catch (IOException e) {
                event.put("data", data);
            }
        }
        return event;
    }
}
