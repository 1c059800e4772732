package dev.keel.redis;

import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.Map;

/**
 * The Lua scripts that make each of Keel's writes one atomic step on the server, loaded when the journal opens (so a
 * script that does not compile fails there) and run by digest. A script's first lines may name libraries
 * ({@code -- requires: lib-dead-letters.lua}), whose functions are put before it: Redis 6.2 has no shared code
 * between scripts.
 * A server that lost its scripts (restarted, or {@code SCRIPT FLUSH}) gets them again on the first call that
 * misses.
 */
final class Scripts {
    /** Each script, by its resource beside this class. */
    enum Script {
        APPEND("append.lua"),
        COMMIT("commit.lua"),
        CURSOR("cursor.lua"),
        CLAIM("claim.lua"),
        GROUPS("groups.lua"),
        PRUNE("prune.lua"),
        HEARTBEAT("heartbeat.lua"),
        RELEASE("release.lua"),
        DELETE_DEAD_LETTER("delete-dead-letter.lua"),
        UPDATE_DEAD_LETTER("update-dead-letter.lua"),
        REQUEST_REPROCESS("request-reprocess.lua"),
        SAVE_SUBSCRIPTION("save-subscription.lua"),
        DELETE_SUBSCRIPTION("delete-subscription.lua"),
        OPEN("open.lua"),
        RAISE_HEAD("raise-head.lua"),
        CACHE_GET("cache-get.lua"),
        CACHE_PUT("cache-put.lua"),
        CACHE_DELETE("cache-delete.lua"),
        CACHE_SWEEP("cache-sweep.lua"),
        CACHE_CLEAR("cache-clear.lua");

        private final String resource;

        Script(String resource) {
            this.resource = resource;
        }
    }

    private static final String[] NO_KEYS = new String[0];

    private final RedisCommands<String, byte[]> redis;
    private final Map<Script, String> source = new EnumMap<>(Script.class);
    private final Map<Script, String> digests = new EnumMap<>(Script.class);

    Scripts(RedisCommands<String, byte[]> redis) {
        this.redis = redis;
        for (Script s : Script.values()) {
            String text = read(s.resource);
            source.put(s, text);
            digests.put(s, redis.scriptLoad(text));
        }
    }

    private Scripts(RedisCommands<String, byte[]> redis, Scripts loaded) {
        this.redis = redis;
        source.putAll(loaded.source);
        digests.putAll(loaded.digests);
    }

    /** The same scripts, run on another connection to the same server (which holds them already). */
    Scripts on(RedisCommands<String, byte[]> other) {
        return new Scripts(other, this);
    }

    /** Runs a script with these arguments; the prefix is the caller's first argument where the script wants one. */
    <T> T run(Script script, ScriptOutputType type, byte[]... args) {
        try {
            return redis.evalsha(digests.get(script), type, NO_KEYS, args);
        } catch (RedisNoScriptException e) {
            redis.scriptLoad(source.get(script));
            return redis.evalsha(digests.get(script), type, NO_KEYS, args);
        }
    }

    /** The script's text, after the libraries its first lines ask for ({@code -- requires: lib-x.lua}). */
    private static String read(String resource) {
        String text = text(resource);
        StringBuilder libraries = new StringBuilder();
        for (String line : text.lines().toList()) {
            if (!line.startsWith("-- requires: ")) {
                break;
            }
            libraries
                    .append(text(line.substring("-- requires: ".length()).trim()))
                    .append('\n');
        }
        return libraries + text;
    }

    private static String text(String resource) {
        try (InputStream in = Scripts.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the Redis script " + resource + " is missing from keel-redis's jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
