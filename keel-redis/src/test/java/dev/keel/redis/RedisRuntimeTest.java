package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.Journal;
import dev.keel.test.SharedRuntimeContract;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The runtime on a real Redis: {@link SharedRuntimeContract} (parking, retries across restarts, two instances, dedup
 * order), and what is Redis's own: retries and cursors as Redis's tools show them, dead letters and reprocessing, an
 * entry that is not an event.
 */
class RedisRuntimeTest extends SharedRuntimeContract {
    private static final AtomicInteger PREFIXES = new AtomicInteger();
    private static LocalRedis redis;
    private static RedisClient client;
    private static StatefulRedisConnection<String, String> connection;
    private static RedisCommands<String, String> cli;

    @BeforeAll
    static void startRedis() throws Exception {
        redis = LocalRedis.start();
        client = RedisClient.create(redis.url());
        connection = client.connect();
        cli = connection.sync();
    }

    @AfterAll
    static void stopRedis() throws Exception {
        connection.close();
        client.shutdown();
        redis.close();
    }

    /** A journal under the key prefix of that name, as another instance would open it. */
    @Override
    protected Journal journal(String prefix) {
        return RedisJournal.builder().url(redis.url()).prefix(prefix).build();
    }

    @Test
    void shouldShowARetryInTheConsumerGroupAndTheCursorAsItsLastDeliveredId() {
        String prefix = newStore();
        AtomicInteger calls = new AtomicInteger();
        List<String> done = new CopyOnWriteArrayList<>();
        Subscription sub = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5, Duration.ofSeconds(2)))
                .handler(String.class, d -> {
                    if (calls.incrementAndGet() <= 2) {
                        throw new IllegalStateException("not yet");
                    }
                    done.add(d.data());
                })
                .build();
        try (Keel keel = keel(prefix, sub)) {
            keel.start();
            var receipt = keel.emit("doc.saved", "d-1", "d-1").join();
            String stream = "{" + prefix + "}:log:" + receipt.lane();
            String entry = receipt.sequence() + "-0";
            // While it waits for its second attempt, Redis's own tools show it: pending in the group, one attempt.
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                var pending = cli.xpending(stream, "audit");
                assertThat(pending.getCount()).isEqualTo(1);
                assertThat(pending.getMessageIds().getLower().getValue()).isEqualTo(entry);
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> done.contains("d-1"));
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(cli.xpending(stream, "audit").getCount()).isZero();
                assertThat(lastDeliveredId(stream, "audit")).isEqualTo(entry);
            });
        }
    }

    @SuppressWarnings("unchecked")
    private static String lastDeliveredId(String stream, String group) {
        for (Object g : cli.xinfoGroups(stream)) {
            List<Object> fields = (List<Object>) g;
            if (group.equals(String.valueOf(fields.get(fields.indexOf("name") + 1)))) {
                return String.valueOf(fields.get(fields.indexOf("last-delivered-id") + 1));
            }
        }
        return null;
    }

    @Test
    void shouldDeadLetterWithEveryAttemptAndReprocess() {
        AtomicInteger calls = new AtomicInteger();
        Set<String> delivered = ConcurrentHashMap.newKeySet();
        Subscription sub = Subscription.builder("shipping")
                .types("parcel.*")
                .retry(retries(2, Duration.ofMillis(100)))
                .handler(String.class, d -> {
                    if (calls.incrementAndGet() <= 2) {
                        throw new java.io.IOException("carrier refused");
                    }
                    delivered.add(d.data());
                })
                .build();
        try (Keel keel = keel(newStore(), sub)) {
            keel.start();
            keel.emit("parcel.sent", "p-1", "p-1").join();
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
            assertThat(d.errors()).hasSize(2);
            assertThat(d.lastErrorType()).isEqualTo("java.io.IOException");
            assertThat(d.event().data()).isEqualTo("p-1");

            keel.deadLetters().reprocess(d.id());
            await().atMost(Duration.ofSeconds(30)).until(() -> delivered.contains("p-1"));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> keel.deadLetters().count("shipping") == 0);
        }
    }

    @Test
    void shouldDeadLetterAnEntryThatIsNotAnEventAndDeliverWhatFollows() {
        String prefix = newStore();
        List<String> delivered = new CopyOnWriteArrayList<>();
        Subscription sub = Subscription.builder("shipping")
                .types("parcel.*")
                .handler(String.class, d -> delivered.add(d.data()))
                .build();
        try (Keel keel = keel(prefix, sub)) {
            keel.start();
            var first = keel.emit(Event.builder("parcel.sent", (Object) "before")
                            .key("k")
                            .build())
                    .join();
            // Something else writes into the lane's stream at the next position, without Keel's field.
            long seq = cli.hincrby("{" + prefix + "}:heads", Integer.toString(first.lane()), 1);
            cli.xadd(
                    "{" + prefix + "}:log:" + first.lane(),
                    new io.lettuce.core.XAddArgs().id(seq + "-0"),
                    Map.of("garbage", "not an event"));
            keel.emit(Event.builder("parcel.sent", (Object) "after").key("k").build())
                    .join();
            await().atMost(Duration.ofSeconds(20)).until(() -> delivered.contains("after"));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
            assertThat(d.event().type()).isEqualTo("keel.unreadable");
            assertThat(d.sequence()).isEqualTo(seq);
        }
        assertThat(delivered).containsExactly("before", "after");
    }
}
