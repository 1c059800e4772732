-- Pauses every instance honours: a subscription paused by an operator, or the open circuit of a breaker.
CREATE TABLE keel_pauses (
    pause_key VARCHAR(300) PRIMARY KEY,
    until_at  BIGINT       NOT NULL
);
