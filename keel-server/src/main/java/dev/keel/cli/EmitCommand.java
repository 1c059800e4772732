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

/** Emits one event through a running server and prints its id once it is durable. */
@Command(name = "emit", mixinStandardHelpOptions = true, description = "Emit one event through `keel serve`.")
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

    @Override
    public Integer call() {
        ObjectNode event = GatewayClient.JSON.createObjectNode();
        event.put("specversion", "1.0");
        event.put("id", id != null ? id : UUID.randomUUID().toString());
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
        JsonNode answer = client.call("POST", "/v1/events", "application/cloudevents+json", event.toString());
        String accepted = answer.path("accepted").path(0).asText();
        spec.commandLine()
                .getOut()
                .println(answer.has("duplicates") ? accepted + " (a duplicate: stored before)" : accepted);
        return 0;
    }
}
