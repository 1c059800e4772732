package dev.keel.redis;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.ComponentHealth;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.spi.Append;
import dev.keel.spi.AuditTrail;
import dev.keel.spi.Commit;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.Journal;
import dev.keel.spi.JournalException;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.LogRecord;
import dev.keel.spi.OutcomeCodec;
import dev.keel.spi.PauseKey;
import dev.keel.spi.Pending;
import dev.keel.spi.Tally;
import io.lettuce.core.KeyValue;
import io.lettuce.core.Limit;
import io.lettuce.core.Range;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.metrics.MicrometerCommandLatencyRecorder;
import io.lettuce.core.metrics.MicrometerOptions;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Keel's journal on Redis: several instances of a service share it without a database. Everything lives under one
 * key prefix, in one hash slot (the prefix is the hash tag, {@code {keel}:...}), so that each write is one atomic
 * script on one server:
 *
 * <ul>
 *   <li>{@code log:<lane>}: a stream per lane; an event's entry id is {@code <sequence>-0}, so a lane's sequence
 *       is its stream's order. {@code heads} holds each lane's last sequence, {@code times:<lane>} when appends
 *       were stored (what pruning by age goes by);
 *   <li>a consumer group per subscription on each lane's stream: its last delivered id is the subscription's
 *       cursor, and its pending entries are the subscription's retries and parked deliveries (their state as JSON
 *       in {@code pending:<lane>:<subscription>}), owned by the instance holding the lane;
 *   <li>{@code tally:<subscription>}, dead letters ({@code dl} and its indexes, see {@link RedisDeadLetters}),
 *       {@code reprocess}, {@code pauses}, stored subscriptions ({@code subs:*}), lane leases ({@code lease:*},
 *       {@code instances}) and dedup keys ({@code dedup:*}, expiring by themselves);
 *   <li>{@code meta}: the format and the lane count, which mark the prefix as Keel's.
 * </ul>
 *
 * <p>Appends go through one thread that sends what gathered as one script call ({@link Appender}). Lanes are leased
 * to instances by the server's clock, with a fencing token checked by every commit ({@link RedisLeases}). Build one
 * with {@link #builder()}; what an acknowledged append survives depends on the server's persistence, which
 * docs/storage.md states per setting.
 *
 * <p>This class is long for a reason: it wires the parts, implements the whole SPI (most of it one command or one
 * script each, with the error that names what failed), and holds the builder. Each part with state of its own is a
 * class of its own.
 */
public final class RedisJournal implements Journal, ComponentHealth.Check {
    /** The key prefix unless configured. */
    public static final String DEFAULT_PREFIX = "keel";

    /** What {@code meta} holds as the format of the keys under a prefix. */
    static final String FORMAT = "keel-redis/1";

    private final Builder config;
    private final OutcomeCodec codec;
    private final EnvelopeCodec envelopes;
    private final String prefix;
    private final String where;
    private volatile String consumer = "keel-" + UUID.randomUUID();
    private RedisClient client;
    private StatefulRedisConnection<String, byte[]> connection;
    private RedisCommands<String, byte[]> redis;
    private Scripts scripts;
    private Appender appender;
    private RedisLeases leases;
    private RedisDeadLetters deadLetters;
    private LaneHeads heads;
    private RedisMonitor monitor;
    /** The appender's own connection. */
    private StatefulRedisConnection<String, byte[]> appends;

    private ClientResources resources;
    private int lanes;

    private RedisJournal(Builder b) {
        this.config = b;
        this.codec = new OutcomeCodec(b.objectMapper != null ? b.objectMapper : PayloadCodec.defaultMapper());
        this.envelopes = codec.envelopes();
        this.prefix = "{" + b.prefix + "}:";
        this.where = RedisClients.where(b.uri);
    }

    /** A builder; {@link Builder#url} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** A journal on the Redis at the URL ({@code redis://host:port}), under the default prefix. */
    public static RedisJournal of(String url) {
        return builder().url(url).build();
    }

    /** The prefix every key of this journal starts with, hash tag included ({@code {keel}:}). */
    public String keyPrefix() {
        return prefix;
    }

    @Override
    public void compressPayloads(dev.keel.PayloadCompression compression) {
        envelopes.compressPayloads(compression);
    }

    @Override
    public void open(int lanes) {
        this.lanes = lanes;
        if (config.registry != null) {
            // Lettuce's meters of every command: counts and latencies by command type.
            resources = DefaultClientResources.builder()
                    .commandLatencyRecorder(
                            new MicrometerCommandLatencyRecorder(config.registry, MicrometerOptions.create()))
                    .build();
        }
        client = RedisClients.client(config.uri, config.timeout, resources);
        try {
            connection = client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
        } catch (RedisException e) {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
            if (resources != null) {
                resources.shutdown();
            }
            throw new JournalException(
                    "cannot reach Redis at " + where + " within " + config.timeout.toMillis() + " ms (" + rootMessage(e)
                            + "); is it running, and is KEEL_REDIS_URL right?",
                    e);
        }
        redis = connection.sync();
        try {
            scripts = new Scripts(redis);
            claimPrefix(lanes);
        } catch (RuntimeException e) {
            close();
            throw e instanceof JournalException j ? j : failure("opening the journal", e);
        }
        deadLetters = new RedisDeadLetters(redis, scripts, codec, prefix);
        leases = new RedisLeases(scripts, prefix, lanes, name -> consumer = name, this::stream);
        try {
            heads = new LaneHeads(client, connection, scripts, prefix, lanes);
        } catch (RedisException e) {
            close();
            throw failure("subscribing to append notices", e);
        }
        monitor = new RedisMonitor("redis", client, where, true, config.pingInterval, true, config.registry);
        try {
            appends = client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
        } catch (RedisException e) {
            close();
            throw failure("connecting the appender", e);
        }
        // WAIT gives up well within the command timeout, so the appender's own commands never time out first.
        Duration wait = config.waitTimeout.compareTo(config.timeout.dividedBy(2)) < 0
                ? config.waitTimeout
                : config.timeout.dividedBy(2);
        appender = new Appender(
                appends.sync(),
                scripts.on(appends.sync()),
                prefix,
                where,
                config.waitReplicas,
                wait,
                heads,
                monitor::failed);
    }

    /** Marks the prefix as Keel's, or checks that it is; refuses a prefix that already holds foreign keys. */
    private void claimPrefix(int lanes) {
        if (redis.hget(prefix + "meta", "format") == null) {
            ScanCursor cursor = ScanCursor.INITIAL;
            ScanArgs match = ScanArgs.Builder.matches(prefix.replace("{", "\\{").replace("}", "\\}") + "*")
                    .limit(10_000);
            do {
                var page = redis.scan(cursor, match);
                if (!page.getKeys().isEmpty()) {
                    throw new JournalException("the Redis key prefix '" + prefix + "' at " + where
                            + " already holds keys Keel did not write (such as '"
                            + page.getKeys().getFirst()
                            + "'); Keel keeps its prefix to itself: choose another (KEEL_REDIS_PREFIX) or remove"
                            + " those keys");
                }
                cursor = page;
            } while (!cursor.isFinished());
        }
        try {
            scripts.run(
                    Scripts.Script.OPEN, ScriptOutputType.STATUS, Bytes.of(prefix), Bytes.of(FORMAT), Bytes.of(lanes));
        } catch (RedisCommandExecutionException e) {
            String m = String.valueOf(e.getMessage());
            if (m.startsWith("KEEL_LANES")) {
                throw new JournalException("the Redis key prefix '" + prefix + "' at " + where + " holds a journal of "
                        + m.substring("KEEL_LANES ".length()) + " lanes, and this runtime opens it with " + lanes
                        + "; a journal keeps its lane count: configure " + m.substring("KEEL_LANES ".length())
                        + " lanes, or use another prefix");
            }
            if (m.startsWith("KEEL_FORMAT")) {
                throw new JournalException("the Redis key prefix '" + prefix + "' at " + where + " holds data of"
                        + " format '" + m.substring("KEEL_FORMAT ".length()) + "', not " + FORMAT
                        + "; choose another prefix (KEEL_REDIS_PREFIX)");
            }
            throw e;
        }
    }

    String stream(int lane) {
        return prefix + "log:" + lane;
    }

    private void checkLane(int lane) {
        if (lane < 0 || lane >= lanes) {
            throw new JournalException("lane " + lane + " does not exist: this journal has " + lanes + " lanes (0 to "
                    + (lanes - 1) + ")");
        }
    }

    // ---- the log ----

    @Override
    public CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        for (Append a : batch) {
            if (a.lane() < 0 || a.lane() >= lanes) {
                return CompletableFuture.failedFuture(new JournalException("lane " + a.lane()
                        + " does not exist: this journal has " + lanes + " lanes; nothing was appended"));
            }
        }
        if (batch.isEmpty()) {
            return CompletableFuture.completedFuture(List.of());
        }
        return appender.append(batch, envelopes);
    }

    @Override
    public long head(int lane) {
        checkLane(lane);
        return heads.get(lane);
    }

    @Override
    public List<LogRecord> read(int lane, long after, int max) {
        checkLane(lane);
        List<StreamMessage<String, byte[]>> entries = call(
                "reading lane " + lane,
                () -> redis.xrange(
                        stream(lane),
                        Range.from(Range.Boundary.including((after + 1) + "-0"), Range.Boundary.unbounded()),
                        Limit.create(0, max)));
        List<LogRecord> out = new ArrayList<>(entries.size());
        for (StreamMessage<String, byte[]> m : entries) {
            String id = m.getId();
            long seq = Long.parseLong(id.substring(0, id.indexOf('-')));
            out.add(new LogRecord(lane, seq, event(lane, id, m.getBody())));
        }
        return out;
    }

    /** The entry's event, or an unreadable one carrying what the entry held (another writer's, or damaged). */
    private Event<?> event(int lane, String id, Map<String, byte[]> body) {
        byte[] envelope = body.get("e");
        if (envelope != null) {
            try {
                return envelopes.read(envelope);
            } catch (RuntimeException e) {
                org.slf4j.LoggerFactory.getLogger(RedisJournal.class)
                        .warn(
                                "lane {} entry {} is not a Keel event ({}); it is dead-lettered as unreadable",
                                lane,
                                id,
                                e.toString());
            }
        }
        byte[] raw = envelope != null ? envelope : Bytes.of(body.keySet().toString());
        long ms = Long.parseLong(id.substring(0, id.indexOf('-')));
        return EnvelopeCodec.unreadable(
                raw, EnvelopeCodec.UNREADABLE_BYTES_KEPT, prefix + "log:" + lane + "-" + id, Instant.ofEpochMilli(ms));
    }

    @Override
    public OptionalLong cursor(String subscription, int lane) {
        checkLane(lane);
        byte[] last = call(
                "reading a cursor",
                () -> scripts.run(
                        Scripts.Script.CURSOR, ScriptOutputType.VALUE, Bytes.of(stream(lane)), Bytes.of(subscription)));
        return last == null ? OptionalLong.empty() : OptionalLong.of(sequenceOf(Bytes.text(last)));
    }

    @Override
    public long openCursor(String subscription, int lane, long startAt) {
        checkLane(lane);
        byte[] last = call(
                "opening a cursor",
                () -> scripts.run(
                        Scripts.Script.CURSOR,
                        ScriptOutputType.VALUE,
                        Bytes.of(stream(lane)),
                        Bytes.of(subscription),
                        Bytes.of(startAt)));
        return sequenceOf(Bytes.text(last));
    }

    private static long sequenceOf(String entryId) {
        return Long.parseLong(entryId.substring(0, entryId.indexOf('-')));
    }

    @Override
    public void commit(Commit c) {
        checkLane(c.lane());
        if (c.isEmpty()) {
            return;
        }
        List<byte[]> args =
                new ArrayList<>(16 + c.upserts().size() * 3 + c.deadLetters().size() * 3);
        args.add(Bytes.of(prefix));
        args.add(Bytes.of(c.subscription()));
        args.add(Bytes.of(c.lane()));
        args.add(Bytes.of(c.cursor()));
        args.add(Bytes.of(c.fence()));
        args.add(Bytes.of(consumer));
        args.add(Bytes.of(c.upserts().size()));
        for (Pending p : c.upserts()) {
            args.add(Bytes.of(p.sequence()));
            args.add(codec.pending(p));
            args.add(Bytes.of(p.attempt()));
        }
        args.add(Bytes.of(c.removals().size()));
        for (long seq : c.removals()) {
            args.add(Bytes.of(seq));
        }
        args.add(Bytes.of(c.deadLetters().size()));
        for (DeadLetter d : c.deadLetters()) {
            args.add(Bytes.of(d.id()));
            args.add(codec.deadLetter(d));
            args.add(Bytes.of(d.deadLetteredAt().toEpochMilli()));
        }
        args.add(Bytes.of(c.removedDeadLetters().size()));
        for (String id : c.removedDeadLetters()) {
            args.add(Bytes.of(id));
        }
        Tally t = c.tally();
        args.add(Bytes.of(t.delivered()));
        args.add(Bytes.of(t.failedAttempts()));
        args.add(Bytes.of(t.retriesScheduled()));
        args.add(Bytes.of(t.deadLettered()));
        try {
            scripts.run(Scripts.Script.COMMIT, ScriptOutputType.STATUS, args.toArray(byte[][]::new));
        } catch (RedisCommandExecutionException e) {
            String m = String.valueOf(e.getMessage());
            if (m.startsWith("KEEL_LEASE_LOST")) {
                String token = m.substring("KEEL_LEASE_LOST ".length()).trim();
                throw new LeaseLostException(
                        c.lane(), c.fence(), token.matches("\\d+") ? Long.parseLong(token) : Commit.NO_FENCE);
            }
            throw failure("committing subscription '" + c.subscription() + "' on lane " + c.lane(), e);
        } catch (RedisException e) {
            throw failure("committing subscription '" + c.subscription() + "' on lane " + c.lane(), e);
        }
    }

    @Override
    public List<Pending> pending(String subscription, int lane) {
        checkLane(lane);
        List<byte[]> values =
                call("reading pending deliveries", () -> redis.hvals(prefix + "pending:" + lane + ":" + subscription));
        List<Pending> out = new ArrayList<>(values.size());
        for (byte[] v : values) {
            out.add(codec.pending(v));
        }
        out.sort(Comparator.comparingLong(Pending::sequence));
        return out;
    }

    @Override
    public Tally tally(String subscription) {
        List<KeyValue<String, byte[]>> v = call(
                "reading outcome counts",
                () -> redis.hmget(prefix + "tally:" + subscription, "delivered", "failed", "retried", "deadLettered"));
        return new Tally(count(v.get(0)), count(v.get(1)), count(v.get(2)), count(v.get(3)));
    }

    private static long count(KeyValue<String, byte[]> kv) {
        return kv.hasValue() ? Bytes.number(kv.getValue(), 0) : 0;
    }

    @Override
    public void prune(int lane, long passed, Instant appendedBefore, Instant now) {
        checkLane(lane);
        // Dedup keys expire by themselves (PXAT): nothing to do for them here.
        call(
                "pruning lane " + lane,
                () -> scripts.run(
                        Scripts.Script.PRUNE,
                        ScriptOutputType.INTEGER,
                        Bytes.of(prefix),
                        Bytes.of(lane),
                        Bytes.of(passed),
                        // As an age, which the script turns into an instant by the server's clock, as the marks are.
                        Bytes.of(Duration.between(appendedBefore, Instant.now()).toMillis())));
    }

    @Override
    public boolean tellsOfAppendsElsewhere() {
        return true;
    }

    /** Every append script publishes the lanes it grew: readers here wake at once for other instances' appends. */
    @Override
    public AutoCloseable watchAppendsElsewhere(java.util.function.IntConsumer grew) {
        return heads.onGrowth(grew);
    }

    /** A commit is one script call (well under a millisecond): busy subscriptions share one every 5 ms. */
    @Override
    public Duration commitInterval() {
        return config.commitInterval;
    }

    // ---- dead letters ----

    @Override
    public List<DeadLetter> deadLetters(DeadLetterQuery query) {
        return call("listing dead letters", () -> deadLetters.query(query));
    }

    @Override
    public Optional<DeadLetter> deadLetter(String id) {
        return call("reading a dead letter", () -> deadLetters.get(id));
    }

    @Override
    public boolean updateDeadLetter(DeadLetter deadLetter) {
        return call("updating a dead letter", () -> deadLetters.update(deadLetter));
    }

    @Override
    public boolean deleteDeadLetter(String id) {
        return call("deleting a dead letter", () -> deadLetters.delete(List.of(id)) == 1);
    }

    @Override
    public int purgeDeadLetters(Instant before) {
        return call("purging dead letters", () -> deadLetters.purge(before));
    }

    @Override
    public long countDeadLetters(String subscription) {
        return call("counting dead letters", () -> deadLetters.count(subscription));
    }

    @Override
    public boolean requestReprocess(String deadLetterId, Instant at) {
        return call("requesting a reprocess", () -> deadLetters.requestReprocess(deadLetterId, at));
    }

    @Override
    public List<ReprocessOrder> reprocessOrders(int max) {
        return call("reading reprocess requests", () -> deadLetters.reprocessOrders(max));
    }

    // ---- coordination ----

    @Override
    public void pause(PauseKey key, Instant until) {
        call(
                "storing a pause",
                () -> until == null
                        ? redis.hdel(prefix + "pauses", key.storageKey())
                        : redis.hset(prefix + "pauses", key.storageKey(), Bytes.of(until.toEpochMilli())));
    }

    @Override
    public Map<PauseKey, Instant> pauses(Instant now) {
        Map<String, byte[]> all = call("reading pauses", () -> redis.hgetall(prefix + "pauses"));
        Map<PauseKey, Instant> out = new HashMap<>();
        all.forEach((k, v) -> {
            Instant until = Instant.ofEpochMilli(Bytes.number(v, 0));
            if (until.isAfter(now)) {
                out.put(PauseKey.parse(k), until);
            }
        });
        return out;
    }

    /** The audit trail under this journal's prefix ({@code audit:entries}, {@code audit:at}). */
    @Override
    public Optional<AuditTrail> auditTrail() {
        return Optional.of(new RedisAuditTrail(redis, prefix, this::call));
    }

    @Override
    public Optional<LaneLeases> leases() {
        return Optional.of(new LaneLeases() {
            @Override
            public Held heartbeat(String instance, Duration ttl) {
                return call("renewing lane leases", () -> leases.heartbeat(instance, ttl));
            }

            @Override
            public void release(String instance, java.util.Collection<Integer> lanes) {
                call("releasing lanes", () -> {
                    leases.release(instance, lanes);
                    return null;
                });
            }
        });
    }

    @Override
    public long saveSubscription(String key, String document) {
        Long rev = call(
                "storing a subscription",
                () -> scripts.run(
                        Scripts.Script.SAVE_SUBSCRIPTION,
                        ScriptOutputType.INTEGER,
                        Bytes.of(prefix),
                        Bytes.of(key),
                        Bytes.of(document)));
        return rev;
    }

    @Override
    public long deleteSubscription(String key) {
        Long rev = call(
                "removing a subscription",
                () -> scripts.run(
                        Scripts.Script.DELETE_SUBSCRIPTION, ScriptOutputType.INTEGER, Bytes.of(prefix), Bytes.of(key)));
        return rev;
    }

    @Override
    public long subscriptionsRevision() {
        return call("reading the subscriptions' revision", () -> Bytes.number(redis.get(prefix + "subs:revision"), 0));
    }

    @Override
    public List<StoredSubscription> subscriptions() {
        Map<String, byte[]> docs = call("reading subscriptions", () -> redis.hgetall(prefix + "subs:doc"));
        Map<String, byte[]> revs = call("reading subscriptions", () -> redis.hgetall(prefix + "subs:rev"));
        List<StoredSubscription> out = new ArrayList<>();
        docs.forEach((k, v) -> out.add(new StoredSubscription(k, Bytes.text(v), Bytes.number(revs.get(k), 0))));
        out.sort(Comparator.comparing(StoredSubscription::key));
        return out;
    }

    @Override
    public void close() {
        if (appender != null) {
            appender.close();
        }
        if (heads != null) {
            heads.close();
        }
        if (monitor != null) {
            monitor.close();
        }
        if (appends != null) {
            appends.close();
        }
        if (connection != null) {
            connection.close();
        }
        if (client != null) {
            client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        }
        if (resources != null) {
            resources.shutdown();
        }
    }

    private <T> T call(String what, Supplier<T> action) {
        try {
            return action.get();
        } catch (RedisException e) {
            if (monitor != null) {
                monitor.failed(e);
            }
            throw failure(what, e);
        }
    }

    /**
     * The journal's Redis as a health component named {@code redis}: {@code CRITICAL} while it is unreachable, since
     * nothing can be appended or delivered then. From the last {@code PING} (every 5 s unless configured) and the
     * errors of the journal's commands.
     *
     * @throws IllegalStateException before {@link #open}
     */
    @Override
    public ComponentHealth check() {
        if (monitor == null) {
            throw new IllegalStateException("the Redis journal is not open yet");
        }
        return monitor.check();
    }

    private JournalException failure(String what, RuntimeException e) {
        return new JournalException(what + " on Redis at " + where + " failed: " + rootMessage(e), e);
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t == e ? String.valueOf(e.getMessage()) : e.getMessage() + ": " + t.getMessage();
    }

    /** Configuration of a {@link RedisJournal}. */
    public static final class Builder {
        private RedisURI uri;
        private String prefix = DEFAULT_PREFIX;
        private Duration timeout = Duration.ofSeconds(10);
        private Duration commitInterval = Duration.ofMillis(5);
        private int waitReplicas;
        private Duration waitTimeout = Duration.ofSeconds(1);
        private ObjectMapper objectMapper;
        private MeterRegistry registry;
        private Duration pingInterval = Duration.ofSeconds(5);

        private Builder() {}

        /**
         * Where the Redis meters go: {@code keel.redis.ping}, {@code keel.redis.errors}, {@code keel.redis.up}
         * (tagged {@code component=redis}) and Lettuce's {@code lettuce.command.completion} per command. None unless
         * set.
         */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** How often the health check PINGs Redis (default 5 s). */
        public Builder pingInterval(Duration interval) {
            if (interval == null || interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("the ping interval must be positive but was " + interval);
            }
            this.pingInterval = interval;
            return this;
        }

        /**
         * The server, as {@code redis://[user:password@]host:port[/database]} or {@code rediss://} for TLS.
         *
         * @throws IllegalArgumentException when it is not such a URL
         */
        public Builder url(String url) {
            this.uri = RedisClients.uri(url);
            return this;
        }

        /**
         * The key prefix (default {@value #DEFAULT_PREFIX}): letters, digits and {@code . _ : -}, up to 64. Keys are
         * {@code {prefix}:...}, one hash slot, so several journals share a server under several prefixes.
         */
        public Builder prefix(String prefix) {
            this.prefix = RedisClients.prefix(prefix);
            return this;
        }

        /** How long to wait for the server: to connect and for each command (default 10 s). */
        public Builder timeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("the Redis timeout must be positive but was " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /** How long a busy subscription may hold back a commit to share it (default 5 ms; zero commits every pass). */
        public Builder commitInterval(Duration interval) {
            if (interval == null || interval.isNegative()) {
                throw new IllegalArgumentException("the commit interval cannot be negative but was " + interval);
            }
            this.commitInterval = interval;
            return this;
        }

        /**
         * Completes an append only once this many replicas confirm it ({@code WAIT}), within the timeout; otherwise the
         * append fails (it is on the primary, and may or may not survive a failover). Zero (the default) completes
         * once the primary has it.
         */
        public Builder waitForReplicas(int replicas, Duration timeout) {
            if (replicas < 0) {
                throw new IllegalArgumentException("replicas cannot be negative but was " + replicas);
            }
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("the replica wait must be positive but was " + timeout);
            }
            this.waitReplicas = replicas;
            this.waitTimeout = timeout;
            return this;
        }

        /** The mapper for event data (Keel's default unless set). */
        public Builder objectMapper(ObjectMapper mapper) {
            this.objectMapper = mapper;
            return this;
        }

        /** The journal, not yet opened. */
        public RedisJournal build() {
            if (uri == null) {
                throw new IllegalStateException("a Redis journal needs a URL: builder().url(\"redis://host:6379\")");
            }
            return new RedisJournal(this);
        }
    }
}
