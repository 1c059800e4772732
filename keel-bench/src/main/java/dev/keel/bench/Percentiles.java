package dev.keel.bench;

/** Nearest-rank percentiles of sorted samples, shared by the probes. */
final class Percentiles {
    private Percentiles() {}

    /** The sample at percentile {@code p} (0 to 1) of {@code sorted}, which must not be empty. */
    static long of(long[] sorted, double p) {
        return sorted[(int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
    }
}
