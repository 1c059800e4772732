package dev.keel.cli;

import dev.keel.KeelMeter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * The registry {@code keel serve} meters into and serves at {@code /metrics}. Delivery time, the journal's append
 * time and ingest request time are published as histograms ({@code keel_delivery_duration_seconds_bucket},
 * {@code keel_journal_append_seconds_bucket}, {@code keel_ingest_requests_seconds_bucket}), so the dashboard and
 * alerts in {@code ops/} can aggregate their percentiles across instances, which client-side percentiles cannot.
 */
final class ServeMeters {
    /** Timers published as histograms: delivery time, the journal's append time, ingest requests. */
    private static final java.util.Set<String> HISTOGRAMS = java.util.Set.of(
            KeelMeter.DELIVERY_DURATION.meterName(),
            KeelMeter.JOURNAL_APPEND.meterName(),
            KeelMeter.INGEST_REQUESTS.meterName());

    private ServeMeters() {}

    /** A new Prometheus registry with the delivery-time histogram. */
    static PrometheusMeterRegistry registry() {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        prometheus.config().meterFilter(new MeterFilter() {
            @Override
            public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
                if (HISTOGRAMS.contains(id.getName())) {
                    return DistributionStatisticConfig.builder()
                            .percentilesHistogram(true)
                            .build()
                            .merge(config);
                }
                return config;
            }
        });
        return prometheus;
    }
}
