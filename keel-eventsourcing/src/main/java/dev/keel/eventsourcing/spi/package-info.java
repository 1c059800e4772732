/**
 * What an event store implements for {@link dev.keel.eventsourcing.EventSourcing}: append with an expected
 * version (the stream's events and the log events they publish in one transaction), load, snapshots, stream
 * metadata and tombstones. keel-jdbc implements it on SQLite and PostgreSQL; the contract suite in keel-test
 * proves an implementation.
 */
package dev.keel.eventsourcing.spi;
