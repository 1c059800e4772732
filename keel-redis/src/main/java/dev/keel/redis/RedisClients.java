package dev.keel.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * How every Redis user of Keel (the journal, the append notices, the cache, the stream census) reads its settings
 * and makes its client: one set of checks with one set of messages, and one client behaviour — commands fail at
 * once while disconnected instead of queueing for an unknown time, each waits at most the timeout, TCP keep-alive
 * finds dead connections, and at most 10,000 commands wait on a connection.
 */
final class RedisClients {
    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9._:-]{1,64}");
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(30);

    private RedisClients() {}

    /**
     * The server's URI.
     *
     * @throws IllegalArgumentException when it is not a Redis URL
     */
    static RedisURI uri(String url) {
        Objects.requireNonNull(url, "url");
        try {
            return RedisURI.create(url);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(
                    "'" + url + "' is not a Redis URL (redis://host:port or rediss://host:port): " + e.getMessage(), e);
        }
    }

    /**
     * The key prefix, checked.
     *
     * @throws IllegalArgumentException when it is not 1 to 64 letters, digits or {@code . _ : -}
     */
    static String prefix(String prefix) {
        if (prefix == null || !PREFIX.matcher(prefix).matches()) {
            throw new IllegalArgumentException(
                    "a Redis key prefix is 1 to 64 letters, digits or . _ : - but was '" + prefix + "'");
        }
        return prefix;
    }

    /** A client of the server, each command waiting at most the timeout (resources: Lettuce's own when null). */
    static RedisClient client(RedisURI uri, Duration timeout, ClientResources resources) {
        uri.setTimeout(timeout);
        RedisClient client = resources == null ? RedisClient.create(uri) : RedisClient.create(resources, uri);
        client.setOptions(ClientOptions.builder()
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(timeout))
                .requestQueueSize(10_000)
                .socketOptions(SocketOptions.builder()
                        .connectTimeout(timeout)
                        .keepAlive(true)
                        .build())
                .build());
        return client;
    }

    /** The server as messages name it. */
    static String where(RedisURI uri) {
        return uri.getHost() + ":" + uri.getPort();
    }

    /** The next wait while Redis stays away: twice the last, at most 30 s. */
    static Duration longer(Duration backoff) {
        Duration twice = backoff.multipliedBy(2);
        return twice.compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : twice;
    }
}
