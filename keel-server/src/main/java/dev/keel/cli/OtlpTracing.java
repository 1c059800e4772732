package dev.keel.cli;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Spans of {@code keel serve} sent to an OpenTelemetry collector over OTLP/HTTP (protobuf), when
 * {@code KEEL_OTLP_ENDPOINT} is set: the collector's base URL ({@code http://collector:4318}), to which
 * {@code /v1/traces} is added as OTLP's exporters do, or a URL that already ends in {@code /v1/traces}. Spans are
 * batched and sent in the background; {@link #close()} sends what is left. {@code KEEL_OTLP_SERVICE_NAME} names
 * the service ({@code keel} by default).
 */
final class OtlpTracing implements AutoCloseable {
    /** The variable that turns the exporter on. */
    static final String ENDPOINT = "KEEL_OTLP_ENDPOINT";
    /** The variable naming the service in the spans' resource. */
    static final String SERVICE_NAME = "KEEL_OTLP_SERVICE_NAME";

    private static final String TRACES_PATH = "/v1/traces";
    private static final AttributeKey<String> SERVICE = AttributeKey.stringKey("service.name");

    private final OpenTelemetrySdk sdk;
    private final String endpoint;

    private OtlpTracing(OpenTelemetrySdk sdk, String endpoint) {
        this.sdk = sdk;
        this.endpoint = endpoint;
    }

    /**
     * The tracing the environment asks for, or empty when {@code KEEL_OTLP_ENDPOINT} is not set.
     *
     * @throws IllegalArgumentException when the endpoint is not an http or https URL with a host
     */
    static Optional<OtlpTracing> fromEnvironment(Map<String, String> env) {
        String value = env.get(ENDPOINT);
        if (value == null || value.isBlank()) {
            return Optional.empty();
        }
        String traces = tracesUrl(value.trim());
        String service = env.getOrDefault(SERVICE_NAME, "keel").trim();
        if (service.isEmpty()) {
            throw new IllegalArgumentException(SERVICE_NAME + " must not be blank");
        }
        OtlpHttpSpanExporter exporter =
                OtlpHttpSpanExporter.builder().setEndpoint(traces).build();
        SdkTracerProvider tracers = SdkTracerProvider.builder()
                .setResource(Resource.getDefault().merge(Resource.create(Attributes.of(SERVICE, service))))
                .addSpanProcessor(BatchSpanProcessor.builder(exporter).build())
                .build();
        OpenTelemetrySdk sdk = OpenTelemetrySdk.builder()
                .setTracerProvider(tracers)
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
                .build();
        return Optional.of(new OtlpTracing(sdk, traces));
    }

    /** The URL spans are posted to. */
    static String tracesUrl(String value) {
        URI uri;
        try {
            uri = new URI(value);
        } catch (URISyntaxException e) {
            throw invalid(value, e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw invalid(value, "the scheme must be http or https");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw invalid(value, "it names no host");
        }
        if (uri.getQuery() != null || uri.getFragment() != null) {
            throw invalid(value, "it must have no query or fragment");
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        if (path.endsWith(TRACES_PATH)) {
            return value;
        }
        return value.replaceAll("/+$", "") + TRACES_PATH;
    }

    private static IllegalArgumentException invalid(String value, String why) {
        return new IllegalArgumentException(ENDPOINT + " must be the URL of an OTLP/HTTP collector, such as"
                + " http://otel-collector:4318, but was '" + value + "': " + why);
    }

    /** The OpenTelemetry the runtime makes its spans with. */
    OpenTelemetry openTelemetry() {
        return sdk;
    }

    /** Where spans go. */
    String endpoint() {
        return endpoint;
    }

    /** Sends the spans still batched (waiting up to 5 seconds) and stops the exporter. */
    @Override
    public void close() {
        sdk.getSdkTracerProvider().shutdown().join(5, TimeUnit.SECONDS);
    }
}
