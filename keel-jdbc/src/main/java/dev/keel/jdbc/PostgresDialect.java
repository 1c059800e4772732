package dev.keel.jdbc;

import com.zaxxer.hikari.HikariConfig;

/** PostgreSQL: the default {@code synchronous_commit=on}, so a commit is durable when it returns. */
final class PostgresDialect implements Dialect {
    private final String url;
    private final String user;
    private final String password;

    PostgresDialect(String url, String user, String password) {
        this.url = url;
        this.user = user;
        this.password = password;
    }

    @Override
    public String name() {
        return "PostgreSQL (" + url.replaceAll("password=[^&]*", "password=***") + ")";
    }

    @Override
    public String blobType() {
        return "BYTEA";
    }

    @Override
    public String positionType() {
        return "BIGINT";
    }

    @Override
    public String identityKey() {
        return "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";
    }

    @Override
    public boolean sharedByInstances() {
        return true;
    }

    @Override
    public boolean singleWriter() {
        return false;
    }

    @Override
    public String nowMillis() {
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
    }

    /**
     * The socket timeout given to the driver when the URL names none: a statement waits at most this long for the
     * database to answer (the longest statement Keel runs, a migration or a prune, takes far less).
     */
    static final java.time.Duration DEFAULT_SOCKET_TIMEOUT = java.time.Duration.ofSeconds(30);

    @Override
    public String skipLocked() {
        return " FOR UPDATE SKIP LOCKED";
    }

    @Override
    public void configure(HikariConfig config) {
        config.setJdbcUrl(url);
        // A batch of inserts goes to the server as multi-row statements: one round trip per 128 rows, not one each.
        config.addDataSourceProperty("reWriteBatchedInserts", "true");
        // Without a socket timeout, a statement on a connection the network silently dropped waits as long as TCP
        // does (a quarter of an hour on Linux): emits would hang instead of failing. The URL's own value wins.
        if (!url.contains("socketTimeout=")) {
            config.addDataSourceProperty("socketTimeout", Long.toString(DEFAULT_SOCKET_TIMEOUT.toSeconds()));
        }
        if (user != null) {
            config.setUsername(user);
        }
        if (password != null) {
            config.setPassword(password);
        }
    }
}
