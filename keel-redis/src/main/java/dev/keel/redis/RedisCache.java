package dev.keel.redis;

import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.keel.ComponentHealth;
import dev.keel.internal.payload.PayloadCodec;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cache shared by every instance, for handlers and read models: values in Redis with a time to live, at most
 * {@code maxKeys} of them (the least recently used go first), and a near cache (Caffeine) in each process that
 * answers repeated reads without a round trip. A put or delete on one instance tells the others to drop their near
 * copy ({@code {prefix}:cache:<name>:inv}); a reconnection drops the whole near cache, since notices may have been
 * missed meanwhile. Values are JSON through Keel's payload mapper, compressed (deflate) above
 * {@code compressAbove} bytes.
 *
 * <p><b>When Redis is away</b> (unreachable at start, or later), reads and writes use the near cache alone, the
 * health check says {@code DEGRADED}, and nothing waits for Redis: a call that found it away costs at most one
 * timeout, and the next ones skip it until a PING answers again. Writes made meanwhile stay in this process and are
 * dropped once Redis is back (Redis is the cache again then).
 *
 * <p>Threads: any thread may call it; the near cache and counters are concurrent; a virtual thread
 * ({@code keel-cache-<name>}) connects while Redis is away and counts the keys every 10 s; Lettuce's event loop
 * delivers invalidations, which only drop near entries. This class keeps the read path, the write path and the
 * encoding together, which is why it is longer than most.
 *
 * @param <V> the type of the values
 */
public final class RedisCache<V> implements AutoCloseable, ComponentHealth.Check {
    private static final Logger log = LoggerFactory.getLogger(RedisCache.class);
    private static final byte RAW = 'j';
    private static final byte DEFLATED = 'z';
    private static final Duration SWEEP = Duration.ofSeconds(10);

    /** A value in the near cache, with when it stops being valid. */
    private record Near<V>(V value, long expiresAtNanos) {}

    private final Builder<V> config;
    private final JavaType type;
    private final ObjectMapper mapper;
    private final String base;
    private final String instance = UUID.randomUUID().toString();
    private final RedisClient client;
    private final RedisMonitor monitor;
    private final Cache<String, Near<V>> near;
    /** Counts invalidations heard: a read that raced one does not fill the near cache. */
    private final AtomicLong invalidations = new AtomicLong();

    private final LongAdder localHits = new LongAdder();
    private final LongAdder redisHits = new LongAdder();
    private final LongAdder misses = new LongAdder();
    private final LongAdder puts = new LongAdder();
    private final LongAdder deletes = new LongAdder();
    private final LongAdder evictions = new LongAdder();
    private final AtomicLong size = new AtomicLong();

    private final Thread keeper;
    private volatile StatefulRedisConnection<String, byte[]> connection;
    private volatile StatefulRedisPubSubConnection<String, String> invalidationsIn;
    private volatile Scripts scripts;
    private volatile boolean closed;

    private RedisCache(Builder<V> b) {
        this.config = b;
        this.mapper = b.mapper != null ? b.mapper : PayloadCodec.defaultMapper();
        this.type = mapper.getTypeFactory().constructType(b.type);
        this.base = "{" + b.prefix + "}:cache:" + b.name + ":";
        RedisURI uri = RedisClients.uri(b.url);
        this.client = RedisClients.client(uri, b.timeout, null);
        // Invalidations may have been missed while a connection was down: the near cache starts again.
        client.addListener(new RedisConnectionStateListener() {
            @Override
            public void onRedisConnected(io.lettuce.core.RedisChannelHandler<?, ?> c, SocketAddress address) {
                if (near != null) {
                    near.invalidateAll();
                }
            }
        });
        this.near = b.nearSize == 0
                ? null
                : Caffeine.newBuilder()
                        .maximumSize(b.nearSize)
                        .expireAfter(new Expiry<String, Near<V>>() {
                            @Override
                            public long expireAfterCreate(String key, Near<V> v, long now) {
                                return Math.max(0, v.expiresAtNanos() - now);
                            }

                            @Override
                            public long expireAfterUpdate(String key, Near<V> v, long now, long current) {
                                return Math.max(0, v.expiresAtNanos() - now);
                            }

                            @Override
                            public long expireAfterRead(String key, Near<V> v, long now, long current) {
                                return current;
                            }
                        })
                        .build();
        this.monitor = new RedisMonitor(
                "redis-cache-" + b.name, client, RedisClients.where(uri), false, b.pingInterval, false, b.registry);
        if (b.registry != null) {
            meters(b.registry);
        }
        connect();
        this.keeper = Thread.ofVirtual().name("keel-cache-" + b.name).start(this::keep);
    }

    /** A builder for a cache of values of the type, named (letters, digits, {@code . _ -}); {@code url} is required. */
    public static <V> Builder<V> builder(String name, Class<V> type) {
        return new Builder<>(name, type);
    }

    /** Connects, unless already connected; false while Redis is away. */
    private boolean connect() {
        if (connection != null) {
            return true;
        }
        try {
            StatefulRedisConnection<String, byte[]> c =
                    client.connect(RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE));
            StatefulRedisPubSubConnection<String, String> sub = client.connectPubSub(StringCodec.UTF8);
            sub.addListener(new RedisPubSubAdapter<>() {
                @Override
                public void message(String channel, String message) {
                    invalidated(message);
                }
            });
            sub.sync().subscribe(base + "inv");
            scripts = new Scripts(c.sync());
            invalidationsIn = sub;
            connection = c;
            if (near != null) {
                near.invalidateAll(); // what was written here while Redis was away is not the cache's
            }
            return true;
        } catch (RedisException e) {
            monitor.failed(e);
            return false;
        }
    }

    /** Connects while Redis is away; counts the keys and forgets expired ones every 10 s while it is here. */
    private void keep() {
        Duration backoff = Duration.ofMillis(500);
        while (!closed) {
            try {
                Thread.sleep(connection == null ? backoff : SWEEP);
            } catch (InterruptedException e) {
                return;
            }
            if (connection == null) {
                backoff = connect() ? Duration.ofMillis(500) : RedisClients.longer(backoff);
            } else if (monitor.up()) {
                try {
                    size();
                } catch (RuntimeException e) {
                    log.debug("cache '{}': counting its keys failed", config.name, e);
                }
            }
        }
    }

    private void invalidated(String message) {
        int space = message.indexOf(' ');
        if (space < 0 || message.regionMatches(0, instance, 0, space) && space == instance.length()) {
            return; // not a notice, or this instance's own
        }
        invalidations.incrementAndGet();
        if (near == null) {
            return;
        }
        String key = message.substring(space + 1);
        if (key.equals("*")) {
            near.invalidateAll();
        } else {
            near.invalidate(key);
        }
    }

    /** Whether to ask Redis: connected, and the last PING or command found it there. */
    private boolean redis() {
        return connection != null && monitor.up();
    }

    /**
     * The value under the key: from the near cache, else from Redis, else empty.
     *
     * @throws IllegalArgumentException for a key that is empty or longer than 1,024 characters
     * @throws dev.keel.KeelException when a stored value no longer reads as the cache's type
     */
    public Optional<V> get(String key) {
        check(key);
        if (near != null) {
            Near<V> n = near.getIfPresent(key);
            if (n != null) {
                localHits.increment();
                return Optional.of(n.value());
            }
        }
        if (!redis()) {
            misses.increment();
            return Optional.empty();
        }
        long before = invalidations.get();
        List<Object> found;
        try {
            found = scripts.run(Scripts.Script.CACHE_GET, ScriptOutputType.MULTI, Bytes.of(base), Bytes.of(key));
        } catch (RedisException e) {
            monitor.failed(e);
            misses.increment();
            return Optional.empty();
        }
        if (found == null || found.isEmpty() || found.get(0) == null) {
            misses.increment();
            return Optional.empty();
        }
        V value = decode(key, (byte[]) found.get(0));
        long ttlMillis = (Long) found.get(1);
        redisHits.increment();
        if (near != null && invalidations.get() == before && ttlMillis > 0) {
            near.put(key, new Near<>(value, expiry(Duration.ofMillis(ttlMillis))));
        }
        return Optional.of(value);
    }

    /** Stores the value under the key for the default time to live; see {@link #put(String, Object, Duration)}. */
    public void put(String key, V value) {
        put(key, value, config.defaultTtl);
    }

    /**
     * Stores the value under the key for the time to live, here and in Redis, and tells the other instances to drop
     * their copy. With Redis away, it is kept in this process's near cache only.
     *
     * @throws CacheValueTooLargeException when the value is over {@code maxValueBytes} serialized; nothing changed
     * @throws IllegalArgumentException for a bad key, a null value, or a time to live that is not positive
     */
    public void put(String key, V value, Duration ttl) {
        check(key);
        Objects.requireNonNull(value, "value");
        if (ttl == null || ttl.isZero() || ttl.isNegative()) {
            throw new IllegalArgumentException("a cache entry's time to live must be positive but was " + ttl);
        }
        byte[] stored = encode(key, value);
        if (near != null) {
            near.put(key, new Near<>(value, expiry(ttl)));
        }
        puts.increment();
        if (!redis()) {
            return;
        }
        try {
            Long evicted = scripts.run(
                    Scripts.Script.CACHE_PUT,
                    ScriptOutputType.INTEGER,
                    Bytes.of(base),
                    Bytes.of(key),
                    stored,
                    Bytes.of(Math.max(1, ttl.toMillis())),
                    Bytes.of(config.maxKeys),
                    Bytes.of(instance));
            evictions.add(evicted);
        } catch (RedisException e) {
            monitor.failed(e);
        }
    }

    /** Deletes the key here, in Redis, and in the other instances' near caches; whether Redis held it. */
    public boolean delete(String key) {
        check(key);
        if (near != null) {
            near.invalidate(key);
        }
        deletes.increment();
        if (!redis()) {
            return false;
        }
        try {
            Long n = scripts.run(
                    Scripts.Script.CACHE_DELETE,
                    ScriptOutputType.INTEGER,
                    Bytes.of(base),
                    Bytes.of(key),
                    Bytes.of(instance));
            return n == 1;
        } catch (RedisException e) {
            monitor.failed(e);
            return false;
        }
    }

    /** Whether the key has a value, here or in Redis (which is not marked as used by this). */
    public boolean contains(String key) {
        check(key);
        if (near != null && near.getIfPresent(key) != null) {
            return true;
        }
        if (!redis()) {
            return false;
        }
        try {
            return connection.sync().exists(base + "v:" + key) == 1;
        } catch (RedisException e) {
            monitor.failed(e);
            return false;
        }
    }

    /** Deletes every key of the cache, here, in Redis and in the other instances' near caches. */
    public void clear() {
        if (near != null) {
            near.invalidateAll();
        }
        if (!redis()) {
            return;
        }
        try {
            long left;
            do {
                left = scripts.<Long>run(
                        Scripts.Script.CACHE_CLEAR, ScriptOutputType.INTEGER, Bytes.of(base), Bytes.of(instance));
            } while (left > 0);
            size.set(0);
        } catch (RedisException e) {
            monitor.failed(e);
        }
    }

    /** How many keys the cache holds in Redis (this process's near cache, while Redis is away). */
    public long size() {
        if (!redis()) {
            return near == null ? 0 : near.estimatedSize();
        }
        try {
            long n = scripts.<Long>run(Scripts.Script.CACHE_SWEEP, ScriptOutputType.INTEGER, Bytes.of(base));
            size.set(n);
            return n;
        } catch (RedisException e) {
            monitor.failed(e);
            return near == null ? 0 : near.estimatedSize();
        }
    }

    /** What this cache has done in this process. */
    public CacheStats stats() {
        return new CacheStats(
                localHits.sum(), redisHits.sum(), misses.sum(), puts.sum(), deletes.sum(), evictions.sum(), size.get());
    }

    /** {@code HEALTHY}, or {@code DEGRADED} while Redis is away and the near cache works alone. */
    @Override
    public ComponentHealth check() {
        return monitor.check();
    }

    private long expiry(Duration ttl) {
        Duration d = config.nearTtl.compareTo(ttl) < 0 ? config.nearTtl : ttl;
        return System.nanoTime() + d.toNanos();
    }

    private static void check(String key) {
        if (key == null || key.isEmpty() || key.length() > 1024) {
            throw new IllegalArgumentException(
                    "a cache key is 1 to 1,024 characters but was " + (key == null ? "null" : key.length() + " long"));
        }
    }

    private byte[] encode(String key, V value) {
        byte[] json;
        try {
            json = mapper.writeValueAsBytes(value);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    "the value for key '" + key + "' cannot be written as JSON: " + e.getMessage(), e);
        }
        if (json.length > config.maxValueBytes) {
            throw new CacheValueTooLargeException(config.name, key, json.length, config.maxValueBytes);
        }
        if (json.length < config.compressAbove) {
            byte[] out = new byte[json.length + 1];
            out[0] = RAW;
            System.arraycopy(json, 0, out, 1, json.length);
            return out;
        }
        Deflater deflater = new Deflater(Deflater.BEST_SPEED);
        try {
            deflater.setInput(json);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(json.length / 2 + 16);
            out.write(DEFLATED);
            byte[] chunk = new byte[8192];
            while (!deflater.finished()) {
                out.write(chunk, 0, deflater.deflate(chunk));
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    private V decode(String key, byte[] stored) {
        try {
            if (stored.length > 0 && stored[0] == RAW) {
                return mapper.readValue(stored, 1, stored.length - 1, type);
            }
            if (stored.length > 0 && stored[0] == DEFLATED) {
                Inflater inflater = new Inflater();
                try {
                    inflater.setInput(stored, 1, stored.length - 1);
                    ByteArrayOutputStream out = new ByteArrayOutputStream(stored.length * 3);
                    byte[] chunk = new byte[8192];
                    while (!inflater.finished()) {
                        int n = inflater.inflate(chunk);
                        if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                            throw new DataFormatException("truncated");
                        }
                        out.write(chunk, 0, n);
                    }
                    return mapper.readValue(out.toByteArray(), type);
                } finally {
                    inflater.end();
                }
            }
            throw new IOException("it was not written by a Keel cache");
        } catch (IOException | DataFormatException e) {
            throw new dev.keel.KeelException(
                    "the value under key '" + key + "' of cache '" + config.name + "' does not read as " + type + " ("
                            + e.getMessage() + "); was it written with another type? delete it or clear the cache",
                    e);
        }
    }

    private void meters(MeterRegistry r) {
        String name = config.name;
        for (var result : List.of("local-hit", "redis-hit", "miss")) {
            LongAdder counted =
                    switch (result) {
                        case "local-hit" -> localHits;
                        case "redis-hit" -> redisHits;
                        default -> misses;
                    };
            FunctionCounter.builder("keel.cache.gets", counted, LongAdder::sum)
                    .description("Cache reads by where they were answered")
                    .tags("cache", name, "result", result)
                    .register(r);
        }
        FunctionCounter.builder("keel.cache.puts", puts, LongAdder::sum)
                .tag("cache", name)
                .register(r);
        FunctionCounter.builder("keel.cache.deletes", deletes, LongAdder::sum)
                .tag("cache", name)
                .register(r);
        FunctionCounter.builder("keel.cache.evictions", evictions, LongAdder::sum)
                .description("Keys dropped as least recently used to stay within the cache's maximum")
                .tag("cache", name)
                .register(r);
        Gauge.builder("keel.cache.size", size, AtomicLong::get)
                .description("Keys the cache held in Redis when last counted (every 10 s)")
                .tag("cache", name)
                .register(r);
        Gauge.builder("keel.cache.hit.ratio", this, c -> c.stats().hitRate())
                .tag("cache", name)
                .register(r);
    }

    @Override
    public void close() {
        closed = true;
        keeper.interrupt();
        monitor.close();
        if (invalidationsIn != null) {
            invalidationsIn.close();
        }
        if (connection != null) {
            connection.close();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(1));
    }

    /** Configuration of a {@link RedisCache}. */
    public static final class Builder<V> {
        private static final java.util.regex.Pattern NAME = java.util.regex.Pattern.compile("[A-Za-z0-9._-]{1,64}");
        private final String name;
        private final Class<V> type;
        private String url;
        private String prefix = "keel-cache";
        private Duration defaultTtl = Duration.ofMinutes(10);
        private long maxKeys = 100_000;
        private int compressAbove = 1024;
        private int maxValueBytes = 1024 * 1024;
        private int nearSize = 10_000;
        private Duration nearTtl = Duration.ofSeconds(60);
        private Duration timeout = Duration.ofMillis(500);
        private Duration pingInterval = Duration.ofSeconds(5);
        private MeterRegistry registry;
        private ObjectMapper mapper;

        private Builder(String name, Class<V> type) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException(
                        "a cache name is 1 to 64 letters, digits or . _ - but was '" + name + "'");
            }
            this.name = name;
            this.type = Objects.requireNonNull(type, "type");
        }

        /** The Redis ({@code redis://host:port}); required. */
        public Builder<V> url(String url) {
            RedisClients.uri(url);
            this.url = url;
            return this;
        }

        /** The key prefix (default {@code keel-cache}): keys are {@code {prefix}:cache:<name>:...}. */
        public Builder<V> prefix(String prefix) {
            this.prefix = RedisClients.prefix(prefix);
            return this;
        }

        /** How long a value lives unless {@code put} says otherwise (default 10 min). */
        public Builder<V> defaultTtl(Duration ttl) {
            this.defaultTtl = positive("defaultTtl", ttl);
            return this;
        }

        /** The most keys Redis keeps for this cache; the least recently used go first (default 100,000). */
        public Builder<V> maxKeys(long max) {
            if (max < 1) {
                throw new IllegalArgumentException("maxKeys must be at least 1 but was " + max);
            }
            this.maxKeys = max;
            return this;
        }

        /** Values this large or larger, serialized, are stored compressed (default 1,024 bytes). */
        public Builder<V> compressAbove(int bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("compressAbove cannot be negative but was " + bytes);
            }
            this.compressAbove = bytes;
            return this;
        }

        /** The largest value accepted, serialized, before compression (default 1 MiB). */
        public Builder<V> maxValueBytes(int bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("maxValueBytes must be at least 1 but was " + bytes);
            }
            this.maxValueBytes = bytes;
            return this;
        }

        /** Values kept in each process (default 10,000; 0 keeps none and asks Redis every time). */
        public Builder<V> nearCacheSize(int entries) {
            if (entries < 0) {
                throw new IllegalArgumentException("nearCacheSize cannot be negative but was " + entries);
            }
            this.nearSize = entries;
            return this;
        }

        /**
         * The longest a process keeps a value without asking Redis (default 60 s): the bound on how stale a near copy
         * can be if an invalidation is lost.
         */
        public Builder<V> nearCacheTtl(Duration ttl) {
            this.nearTtl = positive("nearCacheTtl", ttl);
            return this;
        }

        /** How long to wait for Redis: to connect and for each command (default 500 ms). */
        public Builder<V> timeout(Duration timeout) {
            this.timeout = positive("timeout", timeout);
            return this;
        }

        /** How often the health check PINGs Redis (default 5 s). */
        public Builder<V> pingInterval(Duration interval) {
            this.pingInterval = positive("pingInterval", interval);
            return this;
        }

        /** Where the cache's meters go ({@code keel.cache.*}, {@code keel.redis.*}). */
        public Builder<V> meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /** The mapper for values (Keel's payload mapper unless set). */
        public Builder<V> objectMapper(ObjectMapper mapper) {
            this.mapper = Objects.requireNonNull(mapper, "mapper");
            return this;
        }

        /** The cache; it connects now, or in the background when Redis is away (it works locally meanwhile). */
        public RedisCache<V> build() {
            if (url == null) {
                throw new IllegalStateException("a Redis cache needs a URL: builder(...).url(\"redis://host:6379\")");
            }
            return new RedisCache<>(this);
        }

        private static Duration positive(String what, Duration d) {
            if (d == null || d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(what + " must be positive but was " + d);
            }
            return d;
        }
    }
}
