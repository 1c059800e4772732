-- Outcome counts per subscription and lane, added to by every commit beside the cursor, so that a
-- subscription's totals survive restarts and its replacement.
ALTER TABLE keel_cursors ADD COLUMN delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keel_cursors ADD COLUMN failed BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keel_cursors ADD COLUMN retried BIGINT NOT NULL DEFAULT 0;
ALTER TABLE keel_cursors ADD COLUMN dead_lettered BIGINT NOT NULL DEFAULT 0;

-- Requests to reprocess a dead letter, carried out by whichever instance holds its lane; cleared by the
-- commit that takes the dead letter back, or with the dead letter.
CREATE TABLE keel_reprocess (
    dead_letter_id VARCHAR(64)  PRIMARY KEY,
    subscription   VARCHAR(200) NOT NULL,
    lane           INTEGER      NOT NULL,
    requested_at   BIGINT       NOT NULL
);

-- Subscription definitions every instance runs (the server's webhook subscriptions); the document is the
-- server's JSON. Revisions come from keel_counters, so a reader sees what changed.
CREATE TABLE keel_subscriptions (
    sub_key  VARCHAR(300) PRIMARY KEY,
    document TEXT         NOT NULL,
    revision BIGINT       NOT NULL
);

CREATE TABLE keel_counters (
    name  VARCHAR(64) PRIMARY KEY,
    value BIGINT      NOT NULL
);

INSERT INTO keel_counters (name, value) VALUES ('subscriptions', 0);
