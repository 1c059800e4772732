package dev.keel.server;

import dev.keel.redis.LocalRedis;
import java.util.Map;

/** {@link ServeCrashScenario} on one Redis, its append-only file synced on every write. */
class RedisServeCrashTest extends ServeCrashScenario {
    private LocalRedis redis;

    @Override
    protected void startEngine() throws Exception {
        redis = LocalRedis.start(LocalRedis.Persistence.AOF_ALWAYS);
    }

    @Override
    protected void stopEngine() throws Exception {
        redis.close();
    }

    @Override
    protected Map<String, String> engineEnvironment() {
        return Map.of("KEEL_STORE", "redis", "KEEL_REDIS_URL", redis.url());
    }

    @Override
    protected String engineName() {
        return "Redis";
    }
}
