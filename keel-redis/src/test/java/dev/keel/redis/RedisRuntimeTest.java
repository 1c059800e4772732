package dev.keel.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The runtime on a real Redis: per-key parking, dead letters and reprocessing, restarts, two instances. */
class RedisRuntimeTest {
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

    private static String newPrefix() {
        return "runtime-" + PREFIXES.incrementAndGet();
    }

    private static Keel keel(String prefix, Subscription... subs) {
        return keel(prefix, new SimpleMeterRegistry(), subs);
    }

    private static Keel keel(String prefix, MeterRegistry registry, Subscription... subs) {
        Keel.Builder b = Keel.builder()
                .meterRegistry(registry)
                .lanes(4)
                .leaseDuration(Duration.ofSeconds(2))
                .journal(RedisJournal.builder().url(redis.url()).prefix(prefix).build());
        for (Subscription s : subs) {
            b.subscription(s);
        }
        return b.build();
    }

    private static RetryPolicy retries(int attempts, Duration delay) {
        return RetryPolicy.builder().maxAttempts(attempts).initialDelay(delay).build();
    }

    @Test
    void shouldParkOnlyTheFailingKeyWhileOtherKeysOfItsLaneFlow() {
        List<String> seen = new CopyOnWriteArrayList<>();
        AtomicInteger failures = new AtomicInteger();
        Subscription sub = Subscription.builder("billing")
                .types("order.*")
                .retry(retries(5, Duration.ofMillis(100)))
                .handler(String.class, d -> {
                    if (d.data().equals("bad-1") && failures.getAndIncrement() < 2) {
                        throw new IllegalStateException("gateway down");
                    }
                    seen.add(d.data());
                })
                .build();
        try (Keel keel = keel(newPrefix(), sub)) {
            keel.start();
            keel.emit("order.placed", "bad", "bad-1").join();
            keel.emit("order.placed", "bad", "bad-2").join();
            for (int i = 0; i < 20; i++) {
                keel.emit("order.placed", "good-" + i, "good-" + i).join();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 22);
        }
        assertThat(seen.indexOf("bad-1")).isLessThan(seen.indexOf("bad-2"));
        assertThat(failures.get()).isEqualTo(3);
        assertThat(seen.indexOf("bad-1")).isGreaterThan(0);
    }

    @Test
    void shouldShowARetryInTheConsumerGroupAndTheCursorAsItsLastDeliveredId() {
        String prefix = newPrefix();
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
        try (Keel keel = keel(newPrefix(), sub)) {
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
        String prefix = newPrefix();
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

    @Test
    void shouldDeliverARetryThatWasPendingWhenTheRuntimeStopped() {
        String prefix = newPrefix();
        AtomicInteger attempts = new AtomicInteger();
        List<String> done = new CopyOnWriteArrayList<>();
        Subscription first = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5, Duration.ofSeconds(3)))
                .handler(String.class, d -> {
                    attempts.incrementAndGet();
                    throw new IllegalStateException("not yet");
                })
                .build();
        try (Keel keel = keel(prefix, first)) {
            keel.start();
            keel.emit("doc.saved", "d-1", "d-1").join();
            await().atMost(Duration.ofSeconds(20)).until(() -> attempts.get() >= 1);
        }
        Subscription second = Subscription.builder("audit")
                .types("doc.*")
                .retry(retries(5, Duration.ofMillis(100)))
                .handler(String.class, d -> done.add(d.data() + "@" + d.attempt()))
                .build();
        try (Keel keel = keel(prefix, second)) {
            keel.start();
            await().atMost(Duration.ofSeconds(30)).until(() -> !done.isEmpty());
        }
        assertThat(done)
                .singleElement()
                .satisfies(s -> assertThat(s).startsWith("d-1@").isNotEqualTo("d-1@1"));
    }

    @Test
    void shouldShareTheLanesBetweenTwoRuntimesInKeyOrder() {
        String prefix = newPrefix();
        Map<String, List<Integer>> byKey = new ConcurrentHashMap<>();
        Map<String, Set<Integer>> lanesBy = new ConcurrentHashMap<>();
        List<Keel> runtimes = new ArrayList<>();
        Map<String, MeterRegistry> meters = new ConcurrentHashMap<>();
        try {
            for (String name : List.of("a", "b")) {
                meters.put(name, new SimpleMeterRegistry());
                Keel k = keel(
                        prefix,
                        meters.get(name),
                        Subscription.builder("counter")
                                .types("tick")
                                .handler(Integer.class, d -> {
                                    byKey.computeIfAbsent(d.event().partitionKey(), x -> new CopyOnWriteArrayList<>())
                                            .add(d.data());
                                    lanesBy.computeIfAbsent(name, x -> ConcurrentHashMap.newKeySet())
                                            .add(d.lane());
                                })
                                .build());
                k.start();
                runtimes.add(k);
            }
            // Once b holds lanes a gave up, both deliver.
            await().atMost(Duration.ofSeconds(30)).until(() -> gained(meters.get("b")) > 0);
            for (int i = 0; i < 400; i++) {
                runtimes.get(i % 2).emit("tick", "k" + (i % 10), i).join();
            }
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> byKey.values().stream().mapToInt(List::size).sum() >= 400);
        } finally {
            runtimes.forEach(Keel::close);
        }
        byKey.forEach(
                (key, values) -> assertThat(values).as("key %s in order", key).isSorted());
        assertThat(byKey.values().stream().mapToInt(List::size).sum()).isEqualTo(400);
        assertThat(lanesBy).as("both runtimes delivered lanes").hasSize(2);
    }

    private static double gained(MeterRegistry registry) {
        var c = registry.find("keel.lane.changes").tag("direction", "gained").counter();
        return c == null ? 0 : c.count();
    }

    @Test
    void shouldKeepTheOrderOfAppendsWithDedupKeysSentWithoutWaiting() {
        List<Integer> seen = new CopyOnWriteArrayList<>();
        try (Keel keel = keel(
                newPrefix(),
                Subscription.builder("ordered")
                        .types("step")
                        .handler(Integer.class, d -> seen.add(d.data()))
                        .build())) {
            keel.start();
            List<CompletableFuture<?>> sent = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                sent.add(keel.emit(Event.builder("step", (Object) i)
                        .key("one-key")
                        .idempotencyKey("step-" + i)
                        .build()));
            }
            sent.forEach(CompletableFuture::join);
            // The same keys again: all duplicates, nothing new stored.
            for (int i = 0; i < 300; i++) {
                assertThat(keel.emit(Event.builder("step", (Object) i)
                                        .key("one-key")
                                        .idempotencyKey("step-" + i)
                                        .build())
                                .join()
                                .duplicate())
                        .isTrue();
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> seen.size() == 300);
        }
        assertThat(seen).isSorted().hasSize(300);
    }
}
