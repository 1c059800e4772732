package dev.keel;

/**
 * Maps ordering keys to lanes, for every engine. The mapping is part of the storage format (a durable log keeps events in
 * the lanes it chose), so it is fixed: {@link String#hashCode()} (whose formula the Java specification
 * fixes, and which strings cache), spread by the MurmurHash3 32-bit finalizer, then the non-negative
 * remainder by the lane count.
 */
public final class Lanes {
    private Lanes() {}

    /**
     * The lane of an ordering key among {@code lanes}. Every engine and every tool that places events (a Kafka
     * partitioner, say) must use this one mapping, or same-key events would land in two lanes.
     */
    public static int of(String key, int lanes) {
        int h = key.hashCode();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return Math.floorMod(h, lanes);
    }
}
