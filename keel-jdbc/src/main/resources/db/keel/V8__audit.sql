-- The audit trail of administrative actions (the server's admin API), newest first by (at_ms, id); pruned
-- by age. The token that acted is never stored, only its name.
CREATE TABLE keel_audit (
    id             VARCHAR(64)   PRIMARY KEY,
    at_ms          BIGINT        NOT NULL,
    actor          VARCHAR(300)  NOT NULL,
    tenant         VARCHAR(300),
    action         VARCHAR(100)  NOT NULL,
    target         VARCHAR(1000),
    parameters     TEXT          NOT NULL,
    remote_address VARCHAR(300)  NOT NULL,
    status         INTEGER       NOT NULL
);

CREATE INDEX keel_audit_at ON keel_audit (at_ms, id);
