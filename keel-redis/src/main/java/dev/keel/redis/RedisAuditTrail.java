package dev.keel.redis;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.spi.AuditTrail;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.ScoredValue;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * The audit trail on Redis: each entry as JSON in the hash {@code <prefix>audit:entries} under its id, and its id in
 * the sorted set {@code <prefix>audit:at} scored by its time in milliseconds (members of one score sort by id, so
 * the set's reverse order is the listing order). Pruning removes both by score.
 */
final class RedisAuditTrail implements AuditTrail {
    private static final int BATCH = 500;
    private static final String APPEND = "if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 1 then"
            + " redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end return 1";

    private final RedisCommands<String, byte[]> redis;
    private final String entries;
    private final String index;
    private final BiFunction<String, Supplier<Object>, Object> call;
    private final ObjectMapper json = new ObjectMapper();

    /**
     * @param call runs a Redis command, turning its failure into a journal failure naming what was done
     */
    RedisAuditTrail(
            RedisCommands<String, byte[]> redis, String prefix, BiFunction<String, Supplier<Object>, Object> call) {
        this.redis = redis;
        this.entries = prefix + "audit:entries";
        this.index = prefix + "audit:at";
        this.call = call;
    }

    @Override
    public void append(AuditEntry e) {
        byte[] doc = encode(e);
        call.apply(
                "recording an audit entry",
                () -> redis.eval(
                        APPEND,
                        ScriptOutputType.INTEGER,
                        new String[] {entries, index},
                        Bytes.of(e.id()),
                        Bytes.of(e.at().toEpochMilli()),
                        doc));
    }

    @Override
    public AuditPage list(AuditQuery q) {
        Range.Boundary<Long> upper = Range.Boundary.unbounded();
        if (q.until() != null) {
            upper = Range.Boundary.excluding(q.until().toEpochMilli());
        }
        if (q.before() != null
                && (q.until() == null
                        || q.before().at().toEpochMilli() < q.until().toEpochMilli())) {
            upper = Range.Boundary.including(q.before().at().toEpochMilli());
        }
        Range.Boundary<Long> lower = q.since() == null
                ? Range.Boundary.unbounded()
                : Range.Boundary.including(q.since().toEpochMilli());
        Range<Long> range = Range.from(lower, upper);
        List<AuditEntry> out = new ArrayList<>();
        long offset = 0;
        while (true) {
            long from = offset;
            @SuppressWarnings("unchecked")
            List<ScoredValue<byte[]>> ids = (List<ScoredValue<byte[]>>) call.apply(
                    "listing the audit trail",
                    () -> redis.zrevrangebyscoreWithScores(index, range, Limit.create(from, BATCH)));
            if (ids.isEmpty()) {
                return new AuditPage(out, false);
            }
            String[] fields = ids.stream().map(v -> Bytes.text(v.getValue())).toArray(String[]::new);
            @SuppressWarnings("unchecked")
            List<io.lettuce.core.KeyValue<String, byte[]>> docs = (List<io.lettuce.core.KeyValue<String, byte[]>>)
                    call.apply("reading the audit trail", () -> redis.hmget(entries, fields));
            for (var doc : docs) {
                if (!doc.hasValue()) {
                    continue; // pruned since the index was read
                }
                AuditEntry e = decode(doc.getValue());
                if (q.matches(e)) {
                    if (out.size() == q.limit()) {
                        return new AuditPage(out, true);
                    }
                    out.add(e);
                }
            }
            offset += ids.size();
        }
    }

    @Override
    public long prune(Instant before) {
        Range<Long> old = Range.from(Range.Boundary.unbounded(), Range.Boundary.excluding(before.toEpochMilli()));
        long removed = 0;
        while (true) {
            @SuppressWarnings("unchecked")
            List<byte[]> ids = (List<byte[]>) call.apply(
                    "pruning the audit trail", () -> redis.zrangebyscore(index, old, Limit.create(0, BATCH)));
            if (ids.isEmpty()) {
                return removed;
            }
            String[] fields = ids.stream().map(Bytes::text).toArray(String[]::new);
            byte[][] members = ids.toArray(byte[][]::new);
            call.apply("pruning the audit trail", () -> redis.hdel(entries, fields));
            call.apply("pruning the audit trail", () -> redis.zrem(index, members));
            removed += ids.size();
        }
    }

    private byte[] encode(AuditEntry e) {
        ObjectNode n = json.createObjectNode();
        n.put("id", e.id());
        n.put("at", e.at().toEpochMilli());
        n.put("actor", e.actor());
        n.put("tenant", e.tenant());
        n.put("action", e.action());
        n.put("target", e.target());
        n.put("parameters", e.parameters());
        n.put("remoteAddress", e.remoteAddress());
        n.put("status", e.status());
        try {
            return json.writeValueAsBytes(n);
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
    }

    private AuditEntry decode(byte[] doc) {
        try {
            JsonNode n = json.readTree(doc);
            return new AuditEntry(
                    n.get("id").asText(),
                    Instant.ofEpochMilli(n.get("at").asLong()),
                    n.get("actor").asText(),
                    text(n, "tenant"),
                    n.get("action").asText(),
                    text(n, "target"),
                    n.get("parameters").asText(),
                    n.get("remoteAddress").asText(),
                    n.get("status").asInt());
        } catch (IOException ex) {
            throw new UncheckedIOException("an audit entry on Redis is not readable", ex);
        }
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }
}
