package dev.keel.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;

/** Prints a running server's stats. */
@Command(name = "stats", mixinStandardHelpOptions = true, description = "Print the stats of `keel serve`.")
final class StatsCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    GatewayClient client;

    @Override
    public Integer call() throws JsonProcessingException {
        spec.commandLine()
                .getOut()
                .println(GatewayClient.JSON
                        .writerWithDefaultPrettyPrinter()
                        .writeValueAsString(client.call("GET", "/v1/stats", null, null)));
        return 0;
    }
}
