package dev.keel.redis;

import dev.keel.spi.Journal;
import dev.keel.test.JournalContract;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

class RedisJournalContractTest extends JournalContract {
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static LocalRedis redis;

    @BeforeAll
    static void startRedis() throws Exception {
        redis = LocalRedis.start();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        redis.close();
    }

    private String prefix;

    @Override
    protected Journal newJournal() {
        prefix = "contract-" + PREFIXES.incrementAndGet();
        return journal(prefix);
    }

    /** Another runtime's journal under the same prefix, as another instance of a service opens it. */
    @Override
    protected Journal sameStore() {
        return journal(prefix);
    }

    private static RedisJournal journal(String prefix) {
        return RedisJournal.builder().url(redis.url()).prefix(prefix).build();
    }
}
