package dev.keel.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteDataSource;

/** The pooled data source the peers run on: the same durability settings Keel uses on each database. */
final class PeerDataSource {
    private PeerDataSource() {}

    static HikariDataSource create(String url, boolean postgres) {
        HikariConfig config = new HikariConfig();
        config.setMaximumPoolSize(10);
        if (postgres) {
            config.setJdbcUrl(url);
            config.setUsername("postgres");
        } else {
            SQLiteConfig sqlite = new SQLiteConfig();
            sqlite.setJournalMode(SQLiteConfig.JournalMode.WAL);
            sqlite.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
            sqlite.setTransactionMode(SQLiteConfig.TransactionMode.IMMEDIATE);
            sqlite.setBusyTimeout(10_000);
            SQLiteDataSource ds = new SQLiteDataSource(sqlite);
            ds.setUrl(url);
            config.setDataSource(ds);
        }
        return new HikariDataSource(config);
    }
}
