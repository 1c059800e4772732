package dev.keel.redis;

import dev.keel.KeelException;

/** A value is larger, serialized, than its cache accepts. Nothing was stored, in Redis or in the near cache. */
public final class CacheValueTooLargeException extends KeelException {
    private static final long serialVersionUID = 1L;
    private final long size;
    private final long limit;

    public CacheValueTooLargeException(String cache, String key, long size, long limit) {
        super("the value for key '" + key + "' of cache '" + cache + "' is " + size + " bytes serialized, over the"
                + " limit of " + limit + " bytes; cache a smaller value (an id, a projection), or raise"
                + " RedisCache.builder(...).maxValueBytes(...)");
        this.size = size;
        this.limit = limit;
    }

    /** The value's serialized size in bytes, before compression. */
    public long size() {
        return size;
    }

    /** The cache's limit in bytes. */
    public long limit() {
        return limit;
    }
}
