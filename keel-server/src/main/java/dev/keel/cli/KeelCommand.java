package dev.keel.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code keel} command line. */
@Command(
        name = "keel",
        mixinStandardHelpOptions = true,
        version = "keel 0.1.0-SNAPSHOT",
        description = "Keel, a durable event runtime for Java.",
        subcommands = {
            ServeCommand.class,
            EmitCommand.class,
            StatsCommand.class,
            TailCommand.class,
            DlqCommand.class,
            DemoCommand.class,
            BackupCommand.class,
            RestoreCommand.class,
            CommandLine.HelpCommand.class
        })
public final class KeelCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /**
     * The command line, with failures users can act on (bad configuration, an unreachable database) printed as
     * one line naming the command, not as a stack trace: exit code 2 for configuration, 1 for the rest.
     */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new KeelCommand());
        cli.setExecutionExceptionHandler((e, command, parsed) -> {
            if (e instanceof IllegalArgumentException
                    || e instanceof GatewayClient.CallFailed
                    || e instanceof dev.keel.KeelException) {
                command.getErr().println("keel " + command.getCommandName() + ": " + e.getMessage());
                return e instanceof IllegalArgumentException ? 2 : 1;
            }
            throw e;
        });
        return cli;
    }
}
