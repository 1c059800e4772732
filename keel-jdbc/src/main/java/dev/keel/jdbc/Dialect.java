package dev.keel.jdbc;

import com.zaxxer.hikari.HikariConfig;

/** What differs between the databases Keel runs on; everything else is one code path. */
interface Dialect {
    /** A name for messages. */
    String name();

    /** The column type for binary envelopes in the migrations. */
    String blobType();

    /**
     * The column type for the log's 64-bit position key in the migrations: one that makes it the table's
     * clustering key where the database has one (SQLite's rowid).
     */
    String positionType();

    /**
     * The column definition of an ordering key the database assigns, rising with each insert (the outbox's),
     * primary key included.
     */
    String identityKey();

    /** Connection pool settings the database needs. */
    void configure(HikariConfig config);

    /** Whether the database lets several instances share the journal (lane leases arrive with them). */
    boolean sharedByInstances();

    /**
     * Whether the database has one writer at a time. Its writes are then queued in the process, in order,
     * instead of each writer meeting a locked database and sleeping in its busy handler.
     */
    boolean singleWriter();

    /** SQL for the database clock's time in epoch milliseconds. */
    String nowMillis();

    /** The suffix that locks selected rows and skips those locked by others, or "" when unsupported. */
    String skipLocked();
}
