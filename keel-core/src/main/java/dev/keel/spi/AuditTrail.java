package dev.keel.spi;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Objects;

/**
 * A record of administrative actions (who did what, to what, from where, with which outcome), kept in the
 * journal's own storage so that every instance sharing the journal writes to and reads from one trail. The
 * engine stores entries as given; it neither interprets nor checks the actor or the parameters.
 *
 * <p>Entries are listed newest first: by {@link AuditEntry#at()}, then by {@link AuditEntry#id()}, both
 * descending. A page ends with the entry a next page starts after ({@link AuditQuery#before()}).
 */
public interface AuditTrail {

    /** Stores an entry; an entry with an id already stored is stored once. */
    void append(AuditEntry entry);

    /** The entries matching the query, newest first, at most {@link AuditQuery#limit()} of them. */
    AuditPage list(AuditQuery query);

    /**
     * Removes the entries recorded before {@code before}.
     *
     * @return how many were removed, or -1 when the engine cannot count them
     */
    long prune(Instant before);

    /**
     * One administrative action.
     *
     * @param id unique and time-ordered (a UUIDv7), chosen by the writer
     * @param at when the action was answered, kept to the millisecond
     * @param actor who acted: a token's name, never the token itself
     * @param tenant the actor's tenant, or null for an actor bound to none
     * @param action what was done, a dotted name such as {@code subscription.create}
     * @param target what it was done to (a subscription's name, a dead letter's id), or null
     * @param parameters a small JSON object of the action's parameters
     * @param remoteAddress the address the request came from
     * @param status the outcome, as the HTTP status of the answer
     */
    record AuditEntry(
            String id,
            Instant at,
            String actor,
            String tenant,
            String action,
            String target,
            String parameters,
            String remoteAddress,
            int status) {
        public AuditEntry {
            Objects.requireNonNull(id, "id");
            at = Objects.requireNonNull(at, "at").truncatedTo(ChronoUnit.MILLIS);
            Objects.requireNonNull(actor, "actor");
            Objects.requireNonNull(action, "action");
            parameters = parameters == null ? "{}" : parameters;
            remoteAddress = remoteAddress == null ? "" : remoteAddress;
        }

        /** Whether this entry is listed before {@code other} (newer, or as new with a higher id). */
        public boolean newerThan(Instant otherAt, String otherId) {
            int byTime = at.compareTo(otherAt);
            return byTime != 0 ? byTime > 0 : id.compareTo(otherId) > 0;
        }
    }

    /**
     * Which entries to list.
     *
     * @param tenant only this tenant's entries, or null for all
     * @param action only this action, or null for all
     * @param since only entries at or after this, or null
     * @param until only entries before this, or null
     * @param before only entries listed after this one (the last of the previous page), or null from the newest
     * @param limit at most this many, 1 to 1,000
     */
    record AuditQuery(String tenant, String action, Instant since, Instant until, Position before, int limit) {
        public AuditQuery {
            if (limit < 1 || limit > 1000) {
                throw new IllegalArgumentException("limit must be 1 to 1000, not " + limit);
            }
        }

        /** Every entry, newest first, {@code limit} at a time. */
        public static AuditQuery newest(int limit) {
            return new AuditQuery(null, null, null, null, null, limit);
        }

        /** Whether an entry matches the filters and follows {@link #before()}. */
        public boolean matches(AuditEntry e) {
            return (tenant == null || tenant.equals(e.tenant()))
                    && (action == null || action.equals(e.action()))
                    && (since == null || !e.at().isBefore(since))
                    && (until == null || e.at().isBefore(until))
                    && (before == null || !e.newerThan(before.at(), before.id()) && !e.id().equals(before.id()));
        }
    }

    /**
     * An entry's place in the listing order.
     *
     * @param at its time
     * @param id its id
     */
    record Position(Instant at, String id) {
        public Position {
            at = Objects.requireNonNull(at, "at").truncatedTo(ChronoUnit.MILLIS);
            Objects.requireNonNull(id, "id");
        }

        /** The place of an entry. */
        public static Position of(AuditEntry e) {
            return new Position(e.at(), e.id());
        }
    }

    /**
     * A page of entries.
     *
     * @param entries newest first
     * @param more whether more entries match after the last of these
     */
    record AuditPage(List<AuditEntry> entries, boolean more) {
        public AuditPage {
            entries = List.copyOf(entries);
        }
    }
}
