package dev.keel;

/**
 * Maps ordering keys to lanes. The mapping is part of the storage format (a durable log keeps events in
 * the lanes it chose), so it is fixed: 32-bit FNV-1a over the key's UTF-16 code units, then the
 * non-negative remainder by the lane count.
 */
final class Lanes {
    private Lanes() {}

    static int of(String key, int lanes) {
        int h = 0x811c9dc5;
        for (int i = 0, n = key.length(); i < n; i++) {
            char c = key.charAt(i);
            h = (h ^ (c & 0xff)) * 0x01000193;
            h = (h ^ (c >>> 8)) * 0x01000193;
        }
        return Math.floorMod(h, lanes);
    }
}
