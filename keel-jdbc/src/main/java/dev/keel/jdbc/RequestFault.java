package dev.keel.jdbc;

import dev.keel.spi.JournalException;

/**
 * A journal failure that belongs to one request rather than to the database: the database refused what the request
 * holds (a constraint, a value it cannot store, such as a U+0000 in a PostgreSQL text column; SQLState classes 22
 * and 23, SQLite's CONSTRAINT, TOOBIG and MISMATCH), or an event of it cannot be encoded. The group-commit writer
 * fails a request with it only once the request was written on its own, so the same request fails the same way
 * when it is tried again; waiting does not help. Nothing of the request was stored.
 *
 * <p>The outbox relay keeps such a row refused, with this as its reason, and moves the others; every other caller
 * sees a {@link JournalException}, as before.
 */
final class RequestFault extends JournalException {
    private static final long serialVersionUID = 1L;

    RequestFault(String message, Throwable cause) {
        super(message, cause);
    }
}
