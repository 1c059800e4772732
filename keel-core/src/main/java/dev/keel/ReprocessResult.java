package dev.keel;

import java.util.List;

/**
 * What a reprocess request did (or, for a dry run, would do).
 *
 * @param matched dead letters that met the criteria
 * @param reprocessed ids sent back to their subscriptions (or that would be, in a dry run)
 * @param skippedPoison ids left alone because they are poison or reached the replay limit
 * @param dryRun whether this was a dry run
 */
public record ReprocessResult(int matched, List<String> reprocessed, List<String> skippedPoison, boolean dryRun) {
    public ReprocessResult {
        reprocessed = List.copyOf(reprocessed);
        skippedPoison = List.copyOf(skippedPoison);
    }
}
