package dev.keel.server;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The open streams: which there are (and of which tenant), how many each token holds against its limit, how
 * many have joined (so that an idle tail does not skip what a joining stream needs), and whether the streams
 * are closing. Thread-safe, with no owner: request threads add streams, writers, the heartbeat thread and
 * request threads release them, and tails, the heartbeat thread and the thread closing them read the set.
 */
final class StreamRegistry {
    private final int maxPerToken;
    private final Set<OpenStream> streams = ConcurrentHashMap.newKeySet();
    private final Map<Object, AtomicInteger> perToken = new ConcurrentHashMap<>();
    /** Counts streams joining, so an idle tail never skips past events a stream joining meanwhile needs. */
    private final AtomicInteger joins = new AtomicInteger();

    /**
     * The open streams counted by tenant (null for none) and by their types as asked for, comma-separated
     * ({@code order.*,invoice.paid}; {@code **} for every type).
     */
    Map<String, Map<String, Integer>> countsByTenantAndTypes() {
        Map<String, Map<String, Integer>> out = new HashMap<>();
        for (OpenStream s : streams) {
            String types = s.types.isEmpty()
                    ? "**"
                    : s.types.stream().map(Object::toString).collect(java.util.stream.Collectors.joining(","));
            out.computeIfAbsent(s.tenant, t -> new HashMap<>()).merge(types, 1, Integer::sum);
        }
        return out;
    }

    /** Why the streams are closing; null while they serve. */
    private volatile String closing;

    StreamRegistry(int maxPerToken) {
        this.maxPerToken = maxPerToken;
    }

    /**
     * Takes one of a token's stream slots.
     *
     * @param token whose slots (null in open mode, whose streams share one count)
     * @return the token's count, which now counts the slot taken; null when the token holds the most allowed
     */
    AtomicInteger claim(Object token) {
        Object key = token == null ? "open" : token;
        AtomicInteger held = perToken.computeIfAbsent(key, k -> new AtomicInteger());
        if (held.incrementAndGet() > maxPerToken) {
            held.decrementAndGet();
            return null;
        }
        return held;
    }

    /** Adds a stream that joins the live tail; counts it as a join. */
    void add(OpenStream s) {
        streams.add(s);
        joins.incrementAndGet();
    }

    /** Forgets the stream, once: it no longer counts against its token, nor gets events. */
    void release(OpenStream s) {
        if (s.released.compareAndSet(false, true)) {
            streams.remove(s);
            if (s.owner != null) {
                s.owner.streams.remove(s);
            }
            s.held.decrementAndGet();
        }
    }

    /** The open streams, as they are while iterated. */
    Iterable<OpenStream> streams() {
        return streams;
    }

    boolean isEmpty() {
        return streams.isEmpty();
    }

    /** How many streams have joined so far. */
    int joins() {
        return joins.get();
    }

    /** How many streams are open, of one tenant (every stream when null: open mode). */
    int open(String tenant) {
        if (tenant == null) {
            return streams.size();
        }
        int n = 0;
        for (OpenStream s : streams) {
            n += tenant.equals(s.tenant) ? 1 : 0;
        }
        return n;
    }

    /** Why the streams are closing; null while they serve. */
    String closing() {
        return closing;
    }

    /** From now on, streams end, and streams that open say only why. */
    void closing(String reason) {
        closing = reason;
    }
}
