package dev.keel.cli;

import dev.keel.KeelMeter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

/**
 * The registry {@code keel serve} meters into and serves at {@code /metrics}. Delivery time is published as a
 * histogram ({@code keel_delivery_duration_seconds_bucket}), so the dashboard and alerts in {@code ops/} can
 * aggregate its percentiles across instances, which client-side percentiles cannot.
 */
final class ServeMeters {
    private ServeMeters() {}

    /** A new Prometheus registry with the delivery-time histogram. */
    static PrometheusMeterRegistry registry() {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        prometheus.config().meterFilter(new MeterFilter() {
            @Override
            public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
                if (id.getName().equals(KeelMeter.DELIVERY_DURATION.meterName())) {
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
