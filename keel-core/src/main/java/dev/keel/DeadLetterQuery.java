package dev.keel;

import java.time.Instant;

/**
 * Criteria over dead letters; every criterion left null matches everything. Results come oldest first (or
 * newest first), {@code limit} at a time; pass the last id seen as {@code afterId} for the next page: the
 * dead letters that come after it in that order.
 *
 * @param type a type pattern (see {@link TypePattern})
 * @param subscription a subscription name
 * @param key the event's partition key
 * @param errorType the class name of the last error (simple or fully qualified)
 * @param olderThan dead-lettered before this instant
 * @param newerThan dead-lettered at or after this instant
 * @param tenant the event's tenant
 * @param afterId return only dead letters after this id (paging)
 * @param limit most results to return
 * @param newestFirst the most recently dead-lettered first, instead of the oldest
 */
public record DeadLetterQuery(
        String type,
        String subscription,
        String key,
        String errorType,
        Instant olderThan,
        Instant newerThan,
        String tenant,
        String afterId,
        int limit,
        boolean newestFirst) {

    /** The default and largest page size. */
    public static final int MAX_LIMIT = 1000;

    public DeadLetterQuery {
        if (limit <= 0 || limit > MAX_LIMIT) {
            throw new IllegalArgumentException("limit must be between 1 and " + MAX_LIMIT + " but was " + limit);
        }
        if (type != null) {
            TypePattern.of(type);
        }
    }

    /** Matches every dead letter, first page. */
    public static DeadLetterQuery all() {
        return new DeadLetterQuery(null, null, null, null, null, null, null, null, MAX_LIMIT, false);
    }

    public DeadLetterQuery withType(String pattern) {
        return new DeadLetterQuery(
                pattern, subscription, key, errorType, olderThan, newerThan, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withSubscription(String name) {
        return new DeadLetterQuery(
                type, name, key, errorType, olderThan, newerThan, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withKey(String partitionKey) {
        return new DeadLetterQuery(
                type, subscription, partitionKey, errorType, olderThan, newerThan, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withErrorType(String name) {
        return new DeadLetterQuery(
                type, subscription, key, name, olderThan, newerThan, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withOlderThan(Instant instant) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, instant, newerThan, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withNewerThan(Instant instant) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, olderThan, instant, tenant, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withTenant(String name) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, olderThan, newerThan, name, afterId, limit, newestFirst);
    }

    public DeadLetterQuery withAfterId(String id) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, olderThan, newerThan, tenant, id, limit, newestFirst);
    }

    public DeadLetterQuery withLimit(int max) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, olderThan, newerThan, tenant, afterId, max, newestFirst);
    }

    /** The same criteria, listed newest first (true) or oldest first (false, the default). */
    public DeadLetterQuery withNewestFirst(boolean value) {
        return new DeadLetterQuery(
                type, subscription, key, errorType, olderThan, newerThan, tenant, afterId, limit, value);
    }

    /** Whether a dead letter meets every criterion but paging. Engines may use it or translate it to a query. */
    public boolean matches(DeadLetter d) {
        if (type != null && !TypePattern.of(type).matches(d.event().type())) {
            return false;
        }
        if (subscription != null && !subscription.equals(d.subscription())) {
            return false;
        }
        if (key != null && !key.equals(d.event().partitionKey())) {
            return false;
        }
        if (errorType != null) {
            String last = d.lastErrorType();
            if (last == null
                    || !(last.equals(errorType) || last.endsWith("." + errorType) || last.endsWith("$" + errorType))) {
                return false;
            }
        }
        if (olderThan != null && !d.deadLetteredAt().isBefore(olderThan)) {
            return false;
        }
        if (newerThan != null && d.deadLetteredAt().isBefore(newerThan)) {
            return false;
        }
        return tenant == null || tenant.equals(d.event().tenant());
    }

    /**
     * The page this query selects from dead letters held in memory by id (ids grow with the time of
     * dead-lettering, so id order is that time's order): paging by {@code afterId} in the query's direction, every
     * criterion, and the limit. For engines that keep dead letters in a sorted map.
     */
    public java.util.List<DeadLetter> select(java.util.NavigableMap<String, DeadLetter> byId) {
        java.util.Map<String, DeadLetter> from;
        if (newestFirst) {
            from = afterId == null
                    ? byId.descendingMap()
                    : byId.headMap(afterId, false).descendingMap();
        } else {
            from = afterId == null ? byId : byId.tailMap(afterId, false);
        }
        java.util.List<DeadLetter> out = new java.util.ArrayList<>();
        for (DeadLetter d : from.values()) {
            if (matches(d)) {
                out.add(d);
                if (out.size() == limit) {
                    break;
                }
            }
        }
        return out;
    }
}
