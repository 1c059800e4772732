package dev.keel.test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A clock that stands still until a test moves it. Give it to {@code Keel.builder().clock(...)}, then
 * {@link #advance(Duration)} and {@code keel.process()} to fire retries and delayed deliveries without
 * sleeping. Safe to read from any thread.
 */
public final class TestClock extends Clock {
    private final AtomicReference<Instant> now;
    private final ZoneId zone;

    private TestClock(AtomicReference<Instant> now, ZoneId zone) {
        this.now = now;
        this.zone = zone;
    }

    /** A clock at the instant, in UTC. */
    public static TestClock at(Instant start) {
        return new TestClock(new AtomicReference<>(Objects.requireNonNull(start, "start")), ZoneOffset.UTC);
    }

    /** A clock at 2026-01-01T00:00:00Z. */
    public static TestClock create() {
        return at(Instant.parse("2026-01-01T00:00:00Z"));
    }

    /** Moves the clock forward; returns the new time. */
    public Instant advance(Duration by) {
        if (by.isNegative()) {
            throw new IllegalArgumentException("a test clock only moves forward, but was asked to move by " + by);
        }
        return now.updateAndGet(t -> t.plus(by));
    }

    /** Sets the time; it may not go back. */
    public void set(Instant instant) {
        now.updateAndGet(t -> {
            if (instant.isBefore(t)) {
                throw new IllegalArgumentException("a test clock only moves forward: " + instant + " is before " + t);
            }
            return instant;
        });
    }

    @Override
    public Instant instant() {
        return now.get();
    }

    @Override
    public ZoneId getZone() {
        return zone;
    }

    @Override
    public Clock withZone(ZoneId other) {
        return new TestClock(now, other);
    }
}
