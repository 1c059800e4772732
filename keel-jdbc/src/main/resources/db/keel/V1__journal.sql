-- Keel journal schema, version 1. One schema for SQLite and PostgreSQL; ${blob} is the binary type.
-- Values whose length Keel does not bound (ids, keys, tenants, error types) are TEXT.
-- Events, pending entries and dead letters carry the event as a JSON envelope (CloudEvents JSON format
-- with Keel's extensions); the columns beside it exist to be queried.

CREATE TABLE keel_meta (
    name  VARCHAR(64)  PRIMARY KEY,
    value VARCHAR(255) NOT NULL
);

CREATE TABLE keel_lanes (
    lane INTEGER PRIMARY KEY,
    head BIGINT  NOT NULL
);

CREATE TABLE keel_events (
    lane        INTEGER      NOT NULL,
    seq         BIGINT       NOT NULL,
    event_id    TEXT         NOT NULL,
    type        VARCHAR(200) NOT NULL,
    appended_at BIGINT       NOT NULL,
    envelope    ${blob}      NOT NULL,
    PRIMARY KEY (lane, seq)
);

CREATE TABLE keel_cursors (
    subscription VARCHAR(200) NOT NULL,
    lane         INTEGER      NOT NULL,
    position     BIGINT       NOT NULL,
    PRIMARY KEY (subscription, lane)
);

CREATE TABLE keel_pending (
    subscription VARCHAR(200)  NOT NULL,
    lane         INTEGER       NOT NULL,
    seq          BIGINT        NOT NULL,
    scope        TEXT          NOT NULL,
    parked       INTEGER       NOT NULL,
    attempt      INTEGER       NOT NULL,
    due_at       BIGINT,
    errors       TEXT          NOT NULL,
    replay_count INTEGER       NOT NULL,
    envelope     ${blob}       NOT NULL,
    PRIMARY KEY (subscription, lane, seq)
);

CREATE TABLE keel_dead_letters (
    id              VARCHAR(64)   PRIMARY KEY,
    subscription    VARCHAR(200)  NOT NULL,
    lane            INTEGER       NOT NULL,
    seq             BIGINT        NOT NULL,
    type            VARCHAR(200)  NOT NULL,
    partition_key   TEXT,
    tenant          TEXT,
    last_error_type TEXT,
    reason          TEXT          NOT NULL,
    errors          TEXT          NOT NULL,
    dead_lettered_at BIGINT       NOT NULL,
    replay_count    INTEGER       NOT NULL,
    poison          INTEGER       NOT NULL,
    envelope        ${blob}       NOT NULL
);

CREATE INDEX keel_dead_letters_subscription ON keel_dead_letters (subscription, id);
CREATE INDEX keel_dead_letters_age ON keel_dead_letters (dead_lettered_at);

CREATE TABLE keel_dedup (
    dedup_key TEXT          PRIMARY KEY,
    event_id  TEXT          NOT NULL,
    lane      INTEGER       NOT NULL,
    seq       BIGINT        NOT NULL,
    until_at  BIGINT        NOT NULL
);

CREATE INDEX keel_dedup_until ON keel_dedup (until_at);
