package dev.keel.redis;

/**
 * What a {@link RedisCache} has done since it was built, in this process.
 *
 * @param localHits reads answered by the near cache
 * @param redisHits reads answered by Redis
 * @param misses reads that found nothing
 * @param puts values stored
 * @param deletes keys deleted
 * @param evictions keys Redis dropped as least recently used to stay within the maximum
 * @param size how many keys the cache held when last counted (every 10 s, and by {@link RedisCache#size()})
 */
public record CacheStats(
        long localHits, long redisHits, long misses, long puts, long deletes, long evictions, long size) {
    /** Reads answered, local or from Redis. */
    public long hits() {
        return localHits + redisHits;
    }

    /** Hits over reads, 0 before the first read. */
    public double hitRate() {
        long reads = hits() + misses;
        return reads == 0 ? 0 : hits() / (double) reads;
    }
}
