package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.util.ContextInitializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/** {@code KEEL_LOG_FORMAT=json}: keel serve's logback.xml writes one JSON object per line, with the MDC. */
class LogFormatTest {
    @Test
    void shouldWriteOneJsonObjectPerLineWithTheMdcWhenAskedForJson() throws Exception {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try {
            context.reset();
            context.putProperty(LogFormat.VARIABLE, "json");
            JoranConfigurator configurator = new JoranConfigurator();
            configurator.setContext(context);
            configurator.doConfigure(LogFormatTest.class.getResource("/logback.xml"));
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            MDC.put("correlationid", "c-1");
            context.getLogger("dev.keel.server.Webhooks").error("event {} dead-lettered", "e-1");
        } finally {
            MDC.clear();
            System.setErr(err);
            context.reset();
            new ContextInitializer(context).autoConfig();
        }

        String[] lines = captured.toString(StandardCharsets.UTF_8).strip().split("\n");
        assertThat(lines).hasSize(1);
        JsonNode line = new ObjectMapper().readTree(lines[0]);
        assertThat(line.path("level").asText()).isEqualTo("ERROR");
        assertThat(line.path("loggerName").asText()).isEqualTo("dev.keel.server.Webhooks");
        assertThat(line.path("formattedMessage").asText()).isEqualTo("event e-1 dead-lettered");
        assertThat(line.path("mdc").path("correlationid").asText()).isEqualTo("c-1");
        assertThat(line.path("timestamp").asLong()).isPositive();
    }

    @Test
    void shouldRefuseAFormatLogbackHasNoAppenderForNamingTheVariable() {
        LogFormat.check(Map.of());
        LogFormat.check(Map.of(LogFormat.VARIABLE, "json"));
        LogFormat.check(Map.of(LogFormat.VARIABLE, "text"));
        assertThatThrownBy(() -> LogFormat.check(Map.of(LogFormat.VARIABLE, "JSON ")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("KEEL_LOG_FORMAT")
                .hasMessageContaining("'JSON '");
    }
}
