package dev.keel;

import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Time-ordered event ids: RFC 9562 UUID version 7. Ids made in one JVM are strictly increasing, also within
 * one millisecond (a 12-bit counter fills {@code rand_a}; when it runs out the timestamp borrows the next
 * millisecond), so sorting by id sorts by creation time.
 */
public final class EventIds {
    private static final AtomicLong LAST = new AtomicLong();

    private EventIds() {}

    /** A new UUIDv7 string such as {@code 0192f0c5-8a4e-7c3b-9f1d-2a6b8c0d1e2f}. */
    public static String next() {
        return next(System.currentTimeMillis());
    }

    /**
     * A new UUIDv7 string for an event made at {@code epochMillis} (the runtime's clock). Ids stay strictly
     * increasing even if that clock goes back.
     */
    public static String next(long epochMillis) {
        long now = epochMillis << 12;
        long stamp;
        long prev;
        do {
            prev = LAST.get();
            stamp = Math.max(now, prev + 1);
        } while (!LAST.compareAndSet(prev, stamp));
        long millis = stamp >>> 12;
        long counter = stamp & 0xFFF;
        long msb = (millis << 16) | 0x7000L | counter;
        long lsb = (ThreadLocalRandom.current().nextLong() & 0x3FFF_FFFF_FFFF_FFFFL) | 0x8000_0000_0000_0000L;
        return new UUID(msb, lsb).toString();
    }

    /** The creation time, in epoch milliseconds, of a UUIDv7 made by {@link #next()}. */
    public static long timestampOf(String id) {
        UUID uuid = UUID.fromString(id);
        if (uuid.version() != 7) {
            throw new IllegalArgumentException("'" + id + "' is not a version 7 UUID");
        }
        return uuid.getMostSignificantBits() >>> 16;
    }
}
