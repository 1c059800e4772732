package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class DemoCommandTest {

    @Test
    void shouldShowRetriesADeadLetterAReprocessAndStats() {
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new KeelCommand());
        cli.setOut(new PrintWriter(out));
        int exit = cli.execute("demo", "--orders", "8");
        String text = out.toString();
        assertThat(exit).isZero();
        assertThat(text)
                .contains("order-0003 attempt 1: gateway timed out")
                .contains("order-0003 attempt 3: paid")
                .contains("dead letter")
                .contains("amount 0 is not payable")
                .contains("order-0005 attempt 1 (replay 1): paid")
                .contains("events emitted: 16")
                .contains("drained=true, undelivered=0");
    }

    @Test
    void shouldRefuseABadOrderCountWithAUsageError() {
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new KeelCommand());
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute("demo", "--orders", "2");
        assertThat(exit).isEqualTo(2);
        assertThat(err.toString()).contains("--orders must be between 6 and 100000 but was 2");
    }
}
