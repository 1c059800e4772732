package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.context.Scope;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sqlite.SQLiteConfig;

class SqliteOutboxTest extends OutboxContract {
    @TempDir
    Path dir;

    @Override
    protected JdbcJournal.Builder journalOnTheDatabase() {
        return JdbcJournal.builder().sqlite(dir.resolve("app.db"));
    }

    @Override
    protected Connection appConnection() throws SQLException {
        SQLiteConfig config = new SQLiteConfig();
        config.setBusyTimeout(SqliteDialect.BUSY_TIMEOUT_MS);
        return config.createConnection("jdbc:sqlite:" + dir.resolve("app.db"));
    }

    @Override
    protected List<String> failLogInserts() {
        // A failure of the database, not of one row (RAISE would be a constraint, one request's fault).
        return List.of("CREATE TRIGGER keel_test_refuse BEFORE INSERT ON keel_log"
                + " BEGIN SELECT * FROM \"the disk is on fire\"; END");
    }

    @Override
    protected List<String> refuseLogInsertsOf(String eventId) {
        return List.of("CREATE TRIGGER keel_test_poison BEFORE INSERT ON keel_log WHEN NEW.event_id = '" + eventId
                + "' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END");
    }

    @Override
    protected List<String> healLogInserts() {
        return List.of("DROP TRIGGER keel_test_refuse");
    }

    @Test
    void shouldPublishUnderTheTraceOfTheSpanThatWroteTheRow() throws Exception {
        InMemorySpanExporter spans = InMemorySpanExporter.create();
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        Keel keel = runtime(b -> b.openTelemetry(otel));
        JdbcOutbox outbox = outbox(keel, 0);
        Span request = otel.getTracer("app").spanBuilder("POST /orders").startSpan();
        try (Scope scope = request.makeCurrent()) {
            placeOrder(outbox, placed("o-1", 1), true);
        } finally {
            request.end();
        }
        placeOrder(outbox, placed("o-2", 2), true); // outside any span

        assertThat(outbox.relayNow()).isEqualTo(2);

        List<SpanData> producers = spans.getFinishedSpanItems().stream()
                .filter(s -> s.getKind() == SpanKind.PRODUCER)
                .toList();
        assertThat(producers).hasSize(2);
        assertThat(producers.get(0).getTraceId())
                .isEqualTo(request.getSpanContext().getTraceId());
        assertThat(producers.get(0).getParentSpanId())
                .isEqualTo(request.getSpanContext().getSpanId());
        assertThat(producers.get(1).getTraceId())
                .isNotEqualTo(request.getSpanContext().getTraceId());
    }
}
