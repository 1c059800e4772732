package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code keel serve}'s start settings: a wrong one stops the start with a line naming the variable. */
class ServeStartTest {
    private static String refused(Map<String, String> env) {
        CommandLine cli = new CommandLine(new ServeCommand(env));
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        cli.setExecutionExceptionHandler((e, command, parsed) -> {
            command.getErr().println(e.getMessage());
            return 2;
        });
        assertThat(cli.execute("--port", "0")).isEqualTo(2);
        return err.toString();
    }

    @Test
    void shouldNameADeadLetterCapacityThatIsNotAPositiveNumber() {
        assertThat(refused(Map.of("KEEL_STORE", "memory", "KEEL_DEAD_LETTER_CAPACITY", "0")))
                .contains("KEEL_DEAD_LETTER_CAPACITY must be a positive whole number but was '0'");
        assertThat(refused(Map.of("KEEL_STORE", "memory", "KEEL_DEAD_LETTER_CAPACITY", "lots")))
                .contains("KEEL_DEAD_LETTER_CAPACITY must be a positive whole number but was 'lots'");
    }

    @Test
    void shouldNameAStartTimeoutThatIsNotADuration() {
        assertThat(refused(Map.of("KEEL_STORE", "memory", "KEEL_START_TIMEOUT", "soon")))
                .contains("KEEL_START_TIMEOUT")
                .contains("soon");
        assertThat(refused(Map.of("KEEL_STORE", "memory", "KEEL_START_TIMEOUT", "0s")))
                .contains("KEEL_START_TIMEOUT must be positive but was '0s'");
    }

    @Test
    void shouldNameATlsKeyFileThatIsNotAKey(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path notAKey = java.nio.file.Files.writeString(dir.resolve("key.pem"), "hello");

        assertThat(refused(Map.of(
                        "KEEL_STORE",
                        "memory",
                        "KEEL_TLS_CERT",
                        notAKey.toString(),
                        "KEEL_TLS_KEY",
                        notAKey.toString())))
                .contains("KEEL_TLS_CERT")
                .contains("is not a PEM certificate chain");
        assertThat(refused(Map.of("KEEL_STORE", "memory", "KEEL_TLS_KEY", notAKey.toString())))
                .contains("KEEL_TLS_CERT");
    }
}
