-- Transactional handlers record each (subscription, event) they applied, in the handler's own
-- transaction, so a redelivery after a crash is recognised and skipped.
CREATE TABLE keel_inbox (
    subscription VARCHAR(200) NOT NULL,
    event_id     VARCHAR(255) NOT NULL,
    processed_at BIGINT       NOT NULL,
    PRIMARY KEY (subscription, event_id)
);

CREATE INDEX keel_inbox_age ON keel_inbox (processed_at);
