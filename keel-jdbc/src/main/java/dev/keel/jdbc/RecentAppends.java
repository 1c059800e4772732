package dev.keel.jdbc;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The newest envelopes this process committed to each lane, so that lane workers following the head read them
 * from memory instead of querying the database. A read is served here only from the first sequence it asks
 * for on, and only while sequences follow each other: anything else — older events, envelopes too large to
 * keep, events another instance appended to the same lane — comes from the database. Sequences are handed out
 * under the lane's row lock, in commit order, so a sequence missing here is never filled in later by a
 * transaction that commits after this one.
 */
final class RecentAppends {
    /**
     * Entries over every lane together; each lane gets a power-of-two share of it, at most 4,096 (1,024 lanes,
     * the most there can be, get 16 each).
     */
    static final int TOTAL_ENTRIES = 16_384;
    /** Envelopes larger than this are not kept: the cache stays within TOTAL_ENTRIES × this many bytes (32 MiB). */
    static final int MAX_ENVELOPE_BYTES = 2_048;

    record Entry(long sequence, byte[] envelope) {}

    private final AtomicReferenceArray<Entry>[] lanes;
    /** Per lane, the sequence up to which pruning may have removed events: those are never served from here. */
    private final AtomicLongArray floors;

    private final int mask;

    @SuppressWarnings("unchecked")
    RecentAppends(int laneCount) {
        int perLane = Integer.highestOneBit(Math.max(1, Math.min(4_096, TOTAL_ENTRIES / laneCount)));
        this.mask = perLane - 1;
        this.lanes = new AtomicReferenceArray[laneCount];
        this.floors = new AtomicLongArray(laneCount);
        for (int i = 0; i < laneCount; i++) {
            lanes[i] = new AtomicReferenceArray<>(perLane);
        }
    }

    /** Keeps a committed envelope; called by the writer after its transaction committed. */
    void add(int lane, long sequence, byte[] envelope) {
        int slot = (int) (sequence & mask);
        lanes[lane].set(slot, envelope.length <= MAX_ENVELOPE_BYTES ? new Entry(sequence, envelope) : null);
    }

    /** Pruning may remove events up to this sequence: reads of them go to the database, which knows. */
    void forget(int lane, long through) {
        floors.accumulateAndGet(lane, through, Math::max);
    }

    /** The envelopes of {@code after + 1}, {@code after + 2}, … while they are here, at most {@code max}. */
    List<Entry> after(int lane, long after, int max) {
        if (max <= 0 || after < floors.get(lane)) {
            return List.of();
        }
        AtomicReferenceArray<Entry> ring = lanes[lane];
        List<Entry> out = null;
        for (long seq = after + 1; out == null || out.size() < max; seq++) {
            Entry e = ring.get((int) (seq & mask));
            if (e == null || e.sequence() != seq) {
                break;
            }
            if (out == null) {
                out = new ArrayList<>(Math.min(max, mask + 1));
            }
            out.add(e);
        }
        return out == null ? List.of() : out;
    }
}
