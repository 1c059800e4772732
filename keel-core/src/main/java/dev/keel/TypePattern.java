package dev.keel;

import java.util.concurrent.ConcurrentHashMap;

/**
 * A pattern over event types. Segments are matched one by one: {@code *} matches exactly one segment,
 * {@code **} matches any number of segments (none included), anything else matches itself. So
 * {@code order.*} matches {@code order.created} but not {@code order.payment.failed}; {@code order.**}
 * matches both and {@code order} too; {@code **} matches every type.
 */
public final class TypePattern {
    private static final int CACHE_LIMIT = 4096;

    private final String pattern;
    private final String[] segments;
    private final ConcurrentHashMap<String, Boolean> cache = new ConcurrentHashMap<>();

    private TypePattern(String pattern) {
        this.pattern = pattern;
        this.segments = pattern.split("\\.", -1);
    }

    /**
     * Parses a pattern.
     *
     * @throws IllegalArgumentException when the pattern is blank or has an empty or malformed segment
     */
    public static TypePattern of(String pattern) {
        if (pattern == null || pattern.isBlank()) {
            throw new IllegalArgumentException(
                    "type pattern is blank; give one such as 'order.*', 'order.**' or '**' for every type");
        }
        for (String segment : pattern.split("\\.", -1)) {
            boolean wildcard = segment.equals("*") || segment.equals("**");
            if (!wildcard && !segment.matches("[A-Za-z0-9_-]+")) {
                throw new IllegalArgumentException("type pattern '" + pattern + "' has an invalid segment '" + segment
                        + "'; segments are '*', '**' or letters, digits, '_' and '-'");
            }
        }
        return new TypePattern(pattern);
    }

    /** Whether the type matches this pattern. */
    public boolean matches(String type) {
        Boolean hit = cache.get(type);
        if (hit == null) {
            hit = match(type.split("\\.", -1), 0, 0);
            if (cache.size() < CACHE_LIMIT) {
                cache.put(type, hit);
            }
        }
        return hit;
    }

    private boolean match(String[] type, int t, int p) {
        if (p == segments.length) {
            return t == type.length;
        }
        String segment = segments[p];
        if (segment.equals("**")) {
            for (int skip = t; skip <= type.length; skip++) {
                if (match(type, skip, p + 1)) {
                    return true;
                }
            }
            return false;
        }
        if (t == type.length) {
            return false;
        }
        return (segment.equals("*") || segment.equals(type[t])) && match(type, t + 1, p + 1);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TypePattern other && other.pattern.equals(pattern);
    }

    @Override
    public int hashCode() {
        return pattern.hashCode();
    }

    @Override
    public String toString() {
        return pattern;
    }
}
