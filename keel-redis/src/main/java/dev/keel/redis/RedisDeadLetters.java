package dev.keel.redis;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.spi.DeadLetterStore.ReprocessOrder;
import dev.keel.spi.OutcomeCodec;
import io.lettuce.core.KeyValue;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.sync.RedisCommands;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Dead letters: each as JSON in the hash {@code dl} by id, indexed by id in {@code dl:ids} (all) and
 * {@code dl:ids:<subscription>} (lexical order is id order, which is the order of dead-lettering), by time in
 * {@code dl:at}, counted per subscription in {@code dl:count}; reprocess requests in {@code reprocess} by the time
 * they were asked for. Dead letters are added and taken back by the commit script; the rest is here.
 */
final class RedisDeadLetters {
    /** How many ids a query reads per round trip while it filters. */
    private static final int PAGE = 256;

    private final RedisCommands<String, byte[]> redis;
    private final Scripts scripts;
    private final OutcomeCodec codec;
    private final String prefix;

    RedisDeadLetters(RedisCommands<String, byte[]> redis, Scripts scripts, OutcomeCodec codec, String prefix) {
        this.redis = redis;
        this.scripts = scripts;
        this.codec = codec;
        this.prefix = prefix;
    }

    List<DeadLetter> query(DeadLetterQuery query) {
        String index = query.subscription() == null ? prefix + "dl:ids" : prefix + "dl:ids:" + query.subscription();
        List<DeadLetter> out = new ArrayList<>();
        String after = query.afterId();
        while (out.size() < query.limit()) {
            List<byte[]> ids;
            if (query.newestFirst()) {
                Range<byte[]> range = after == null
                        ? Range.unbounded()
                        : Range.from(Range.Boundary.unbounded(), Range.Boundary.excluding(Bytes.of(after)));
                ids = redis.zrevrangebylex(index, range, Limit.create(0, PAGE));
            } else {
                Range<byte[]> range = after == null
                        ? Range.unbounded()
                        : Range.from(Range.Boundary.excluding(Bytes.of(after)), Range.Boundary.unbounded());
                ids = redis.zrangebylex(index, range, Limit.create(0, PAGE));
            }
            if (ids.isEmpty()) {
                break;
            }
            String[] fields = ids.stream().map(Bytes::text).toArray(String[]::new);
            for (KeyValue<String, byte[]> kv : hmget(fields)) {
                if (kv.hasValue()) {
                    DeadLetter d = codec.deadLetter(kv.getValue());
                    if (query.matches(d)) {
                        out.add(d);
                        if (out.size() == query.limit()) {
                            break;
                        }
                    }
                }
            }
            if (ids.size() < PAGE) {
                break;
            }
            after = fields[fields.length - 1];
        }
        return out;
    }

    private List<KeyValue<String, byte[]>> hmget(String[] ids) {
        // The hash's fields are ids: the codec takes them as keys here.
        return redis.hmget(prefix + "dl", ids);
    }

    Optional<DeadLetter> get(String id) {
        byte[] v = redis.hget(prefix + "dl", id);
        return v == null ? Optional.empty() : Optional.of(codec.deadLetter(v));
    }

    boolean update(DeadLetter d) {
        Long done = scripts.run(
                Scripts.Script.UPDATE_DEAD_LETTER,
                ScriptOutputType.INTEGER,
                Bytes.of(prefix),
                Bytes.of(d.id()),
                codec.deadLetter(d));
        return done == 1;
    }

    int delete(List<String> ids) {
        if (ids.isEmpty()) {
            return 0;
        }
        byte[][] args = new byte[ids.size() + 1][];
        args[0] = Bytes.of(prefix);
        for (int i = 0; i < ids.size(); i++) {
            args[i + 1] = Bytes.of(ids.get(i));
        }
        Long n = scripts.run(Scripts.Script.DELETE_DEAD_LETTER, ScriptOutputType.INTEGER, args);
        return n.intValue();
    }

    int purge(Instant before) {
        int purged = 0;
        while (true) {
            List<byte[]> ids = redis.zrangebyscore(
                    prefix + "dl:at",
                    Range.from(Range.Boundary.unbounded(), Range.Boundary.excluding(before.toEpochMilli())),
                    Limit.create(0, 1_000));
            if (ids.isEmpty()) {
                return purged;
            }
            purged += delete(ids.stream().map(Bytes::text).toList());
        }
    }

    long count(String subscription) {
        if (subscription == null) {
            return redis.hlen(prefix + "dl");
        }
        return Bytes.number(redis.hget(prefix + "dl:count", subscription), 0);
    }

    boolean requestReprocess(String id, Instant at) {
        Long done = scripts.run(
                Scripts.Script.REQUEST_REPROCESS,
                ScriptOutputType.INTEGER,
                Bytes.of(prefix),
                Bytes.of(id),
                Bytes.of(at.toEpochMilli()));
        return done == 1;
    }

    List<ReprocessOrder> reprocessOrders(int max) {
        List<ScoredValue<byte[]>> requested = redis.zrangeWithScores(prefix + "reprocess", 0, max - 1);
        List<ReprocessOrder> out = new ArrayList<>(requested.size());
        List<String> gone = new ArrayList<>();
        for (ScoredValue<byte[]> r : requested) {
            String id = Bytes.text(r.getValue());
            Optional<DeadLetter> d = get(id);
            if (d.isEmpty()) {
                gone.add(id);
                continue;
            }
            out.add(new ReprocessOrder(
                    id, d.get().subscription(), d.get().lane(), Instant.ofEpochMilli((long) r.getScore())));
        }
        if (!gone.isEmpty()) {
            redis.zrem(prefix + "reprocess", gone.stream().map(Bytes::of).toArray(byte[][]::new));
        }
        return out;
    }
}
