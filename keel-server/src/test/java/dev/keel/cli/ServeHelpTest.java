package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code keel serve --help} points at every route group and names every configuration key. */
class ServeHelpTest {

    private static String help() {
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new KeelCommand());
        cli.setOut(new PrintWriter(out));
        assertThat(cli.execute("serve", "--help")).isZero();
        return out.toString();
    }

    /** Every key the configuration file reads, from its records: a key added there must be named in the help. */
    private static List<String> configKeys() {
        List<String> keys = new ArrayList<>();
        for (RecordComponent c : ServeConfig.class.getRecordComponents()) {
            Class<?> type = c.getType();
            if (type.isRecord() && type != ServeConfig.Auth.class) {
                for (RecordComponent nested : type.getRecordComponents()) {
                    keys.add(c.getName() + "." + nested.getName());
                }
            } else if (type == ServeConfig.Auth.class) {
                keys.add("auth.tokens");
                for (RecordComponent t : ServeConfig.Token.class.getRecordComponents()) {
                    keys.add(t.getName());
                }
            } else {
                keys.add(c.getName());
            }
        }
        return keys;
    }

    @Test
    void shouldPointAtEveryRouteGroupAndNameEveryConfigurationKey() {
        String help = help();
        assertThat(help)
                .contains(
                        "/v1/events",
                        "/v1/subscriptions",
                        "/v1/stream",
                        "/v1/dead-letters",
                        "/v1/dead-letters/reprocess",
                        "/v1/stats",
                        "/health/live",
                        "/health/ready",
                        "/health/startup",
                        "/metrics",
                        "docs/server.md");
        assertThat(configKeys()).hasSizeGreaterThan(10).allSatisfy(key -> assertThat(help)
                .as("the help names the configuration key " + key)
                .contains(key));
        assertThat(help).contains("KEEL_STORE", "KEEL_JDBC_URL", "KEEL_LANES", "KEEL_RETENTION");
    }
}
