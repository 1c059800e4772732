-- Lane leases for instances sharing one database. Times are epoch milliseconds of the database's clock.
CREATE TABLE keel_leases (
    lane       INTEGER PRIMARY KEY,
    owner      VARCHAR(100),
    token      BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);

CREATE TABLE keel_instances (
    instance   VARCHAR(100) PRIMARY KEY,
    expires_at BIGINT       NOT NULL
);
