package dev.keel.memory;

import dev.keel.spi.AuditTrail;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;

/** The memory journal's audit trail: entries newest first in a sorted map, gone with the process. */
final class MemoryAuditTrail implements AuditTrail {
    private static final Comparator<Position> NEWEST_FIRST =
            Comparator.comparing(Position::at).thenComparing(Position::id).reversed();

    private final TreeMap<Position, AuditEntry> entries = new TreeMap<>(NEWEST_FIRST);

    @Override
    public synchronized void append(AuditEntry entry) {
        entries.putIfAbsent(Position.of(entry), entry);
    }

    @Override
    public synchronized AuditPage list(AuditQuery query) {
        var from = query.before() == null ? entries : entries.tailMap(query.before(), false);
        List<AuditEntry> page = new ArrayList<>();
        for (AuditEntry e : from.values()) {
            if (query.matches(e)) {
                if (page.size() == query.limit()) {
                    return new AuditPage(page, true);
                }
                page.add(e);
            }
        }
        return new AuditPage(page, false);
    }

    @Override
    public synchronized long prune(Instant before) {
        int was = entries.size();
        entries.values().removeIf(e -> e.at().isBefore(before));
        return was - entries.size();
    }
}
