package dev.keel.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code keel} command line. */
@Command(
        name = "keel",
        mixinStandardHelpOptions = true,
        version = "keel 0.1.0-SNAPSHOT",
        description = "Keel, a durable event runtime for Java.",
        subcommands = {ServeCommand.class, DemoCommand.class, CommandLine.HelpCommand.class})
public final class KeelCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new KeelCommand()).execute(args));
    }
}
