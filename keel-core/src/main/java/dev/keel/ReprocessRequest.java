package dev.keel;

import java.util.Objects;

/**
 * Which dead letters to send back to their subscriptions.
 *
 * @param query the criteria (its own limit is the page size used while scanning)
 * @param limit the most dead letters to reprocess in all
 * @param dryRun when true, only report what would be reprocessed
 */
public record ReprocessRequest(DeadLetterQuery query, int limit, boolean dryRun) {
    public ReprocessRequest {
        Objects.requireNonNull(query, "query");
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be at least 1 but was " + limit);
        }
    }

    /** Reprocess up to {@code limit} dead letters matching the query. */
    public static ReprocessRequest of(DeadLetterQuery query, int limit) {
        return new ReprocessRequest(query, limit, false);
    }

    /** The same request as a dry run. */
    public ReprocessRequest asDryRun() {
        return new ReprocessRequest(query, limit, true);
    }
}
