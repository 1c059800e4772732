-- The transactional outbox: events an application wrote in its own transaction (JdbcOutbox.write), waiting for
-- the relay to move them to the log. The relay deletes a row in the same transaction that appends its event,
-- so a committed row becomes exactly one log event. A row Keel refuses (too large, a loop, invalid) is kept,
-- with when and why, instead of being lost.
CREATE TABLE keel_outbox (
    id          ${identity_key},
    envelope    ${blob}      NOT NULL,
    traceparent VARCHAR(55),
    written_at  BIGINT       NOT NULL,
    refused_at  BIGINT,
    reason      TEXT
);

CREATE INDEX keel_outbox_refused ON keel_outbox (id) WHERE refused_at IS NOT NULL;
