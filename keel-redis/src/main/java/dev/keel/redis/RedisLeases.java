package dev.keel.redis;

import dev.keel.spi.LaneLeases;
import io.lettuce.core.ScriptOutputType;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Lane leases in three hashes ({@code lease:owner}, {@code lease:expires}, {@code lease:token}) and the live
 * instances in a sorted set by expiry, all timed by the Redis server's clock in one script per heartbeat. A lane
 * newly held also takes over what its stream's consumer groups still list as pending for the earlier owner.
 *
 * <p>The heartbeat runs on the runtime's lease thread only; {@link #held} is that thread's.
 */
final class RedisLeases implements LaneLeases {
    private final Scripts scripts;
    private final byte[] prefix;
    private final int lanes;
    private final Consumer<String> named;
    private final java.util.function.IntFunction<String> stream;
    private Set<Integer> held = Set.of();

    RedisLeases(
            Scripts scripts,
            String prefix,
            int lanes,
            Consumer<String> named,
            java.util.function.IntFunction<String> stream) {
        this.scripts = scripts;
        this.prefix = Bytes.of(prefix);
        this.lanes = lanes;
        this.named = named;
        this.stream = stream;
    }

    @Override
    public Held heartbeat(String instance, Duration ttl) {
        named.accept(instance);
        List<Object> out = scripts.run(
                Scripts.Script.HEARTBEAT,
                ScriptOutputType.MULTI,
                prefix,
                Bytes.of(instance),
                Bytes.of(ttl.toMillis()),
                Bytes.of(lanes));
        int fair = ((Long) out.getFirst()).intValue();
        Map<Integer, Long> lanesHeld = new TreeMap<>();
        for (int i = 1; i + 1 < out.size(); i += 2) {
            lanesHeld.put(((Long) out.get(i)).intValue(), (Long) out.get(i + 1));
        }
        Set<Integer> now = new HashSet<>(lanesHeld.keySet());
        for (int lane : now) {
            if (!held.contains(lane)) {
                takeOver(stream.apply(lane), instance);
            }
        }
        held = now;
        return new Held(lanesHeld, fair);
    }

    /**
     * Moves what each group of the lane's stream lists as pending for an earlier owner to this instance, a page per
     * script call, so that Redis is never held long.
     */
    private void takeOver(String stream, String instance) {
        List<Object> groups = scripts.run(Scripts.Script.GROUPS, ScriptOutputType.MULTI, Bytes.of(stream));
        for (Object g : groups) {
            byte[] group = (byte[]) g;
            byte[] start = Bytes.of("0-0");
            for (int page = 0; page < MAX_PAGES; page++) {
                start = scripts.run(
                        Scripts.Script.CLAIM,
                        ScriptOutputType.VALUE,
                        Bytes.of(stream),
                        group,
                        Bytes.of(instance),
                        start);
                if (start == null || Bytes.text(start).equals("0-0")) {
                    break;
                }
            }
        }
    }

    /** The most pages of 200 pending entries one group's hand-over moves in one heartbeat. */
    private static final int MAX_PAGES = 500;

    @Override
    public void release(String instance, Collection<Integer> released) {
        if (released.isEmpty()) {
            return;
        }
        byte[][] args = new byte[2 + released.size()][];
        args[0] = prefix;
        args[1] = Bytes.of(instance);
        int i = 2;
        for (int lane : released) {
            args[i++] = Bytes.of(lane);
        }
        scripts.run(Scripts.Script.RELEASE, ScriptOutputType.STATUS, args);
        Set<Integer> kept = new HashSet<>(held);
        kept.removeAll(released);
        held = kept;
    }
}
