package dev.keel.eventsourcing;

/**
 * The version a stream must be at for an append to go ahead: {@link #any()}, {@link #none()} (the stream has
 * no events yet) or {@link #exactly(long)}. A stream's version is the number of events appended to it.
 *
 * @param value the version, or -1 for any
 */
public record ExpectedVersion(long value) {
    private static final long ANY = -1;

    /** Checks the value. */
    public ExpectedVersion {
        if (value < ANY) {
            throw new IllegalArgumentException("an expected version is 0 or more (or any) but was " + value);
        }
    }

    /** Appends whatever the stream's version. */
    public static ExpectedVersion any() {
        return new ExpectedVersion(ANY);
    }

    /** Appends only to a stream without events. */
    public static ExpectedVersion none() {
        return new ExpectedVersion(0);
    }

    /** Appends only when the stream is at exactly this version. */
    public static ExpectedVersion exactly(long version) {
        if (version < 0) {
            throw new IllegalArgumentException("a stream's version is 0 or more but was " + version);
        }
        return new ExpectedVersion(version);
    }

    /** Whether any version will do. */
    public boolean isAny() {
        return value == ANY;
    }

    /** Whether a stream at {@code actual} meets this expectation. */
    public boolean matches(long actual) {
        return value == ANY || value == actual;
    }

    @Override
    public String toString() {
        return value == ANY ? "any" : value == 0 ? "none (version 0)" : "exactly " + value;
    }
}
