-- The event store of keel-eventsourcing: streams with a version, their events, snapshots, and the commands
-- applied (so a redelivered command is applied once). Appends write here and to keel_log in one transaction.
CREATE TABLE keel_es_streams (
    stream_id   VARCHAR(300) PRIMARY KEY,
    stream_type VARCHAR(200) NOT NULL,
    version     BIGINT       NOT NULL,
    deleted     INTEGER      NOT NULL DEFAULT 0,
    label       VARCHAR(200),
    metadata    TEXT,
    updated_at  BIGINT       NOT NULL
);

-- How many streams of a type are in each state (the label of a saga's state), counted for meters.
CREATE INDEX keel_es_streams_label ON keel_es_streams (stream_type, label);

CREATE TABLE keel_es_events (
    stream_id   VARCHAR(300) NOT NULL,
    version     BIGINT       NOT NULL,
    event_id    VARCHAR(64)  NOT NULL,
    type        VARCHAR(200) NOT NULL,
    revision    INTEGER      NOT NULL,
    data        ${blob}      NOT NULL,
    metadata    TEXT,
    recorded_at BIGINT       NOT NULL,
    PRIMARY KEY (stream_id, version)
) ${clustered};

CREATE TABLE keel_es_snapshots (
    stream_id  VARCHAR(300) PRIMARY KEY,
    version    BIGINT       NOT NULL,
    state_type VARCHAR(300) NOT NULL,
    revision   INTEGER      NOT NULL,
    state      ${blob}      NOT NULL,
    taken_at   BIGINT       NOT NULL
);

CREATE TABLE keel_es_commands (
    command_id        VARCHAR(300) PRIMARY KEY,
    stream_id         VARCHAR(300) NOT NULL,
    version           BIGINT       NOT NULL,
    rejection_code    VARCHAR(200),
    rejection_message TEXT,
    applied_at        BIGINT       NOT NULL
);

CREATE INDEX keel_es_commands_age ON keel_es_commands (applied_at);

-- Read models (projections): the generation queries read, the one a rebuild is filling, and per generation and
-- stream the last version applied, written in the same transaction as the read model's rows.
CREATE TABLE keel_es_projections (
    name       VARCHAR(200) PRIMARY KEY,
    generation INTEGER      NOT NULL,
    rebuilding INTEGER,
    updated_at BIGINT       NOT NULL
);

CREATE TABLE keel_es_checkpoints (
    projection VARCHAR(200) NOT NULL,
    generation INTEGER      NOT NULL,
    stream_id  VARCHAR(300) NOT NULL,
    version    BIGINT       NOT NULL,
    PRIMARY KEY (projection, generation, stream_id)
);
