-- The log is keyed by one 64-bit position, lane * 2^53 + seq, instead of (lane, seq): on SQLite
-- ${position} is INTEGER, so the key is the rowid and each event lives in one B-tree, stored in log order.
-- Appending, reading a lane in order and pruning its start each touch one B-tree instead of two.
-- Lanes are at most 1,024 and a lane's sequence stays below 2^53, so positions fit a signed 64-bit integer.
-- On PostgreSQL the old table is locked first, so that an instance still running the previous version cannot
-- append while the events are copied (it waits, then fails on the dropped table). Stop every instance
-- before upgrading.
${lock_old_log}

CREATE TABLE keel_log (
    position    ${position}  PRIMARY KEY,
    lane        INTEGER      NOT NULL,
    seq         BIGINT       NOT NULL,
    event_id    TEXT         NOT NULL,
    type        VARCHAR(200) NOT NULL,
    appended_at BIGINT       NOT NULL,
    envelope    ${blob}      NOT NULL
);

INSERT INTO keel_log (position, lane, seq, event_id, type, appended_at, envelope)
    SELECT lane * 9007199254740992 + seq, lane, seq, event_id, type, appended_at, envelope FROM keel_events;

DROP TABLE keel_events;
