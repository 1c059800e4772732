package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The order a group's linked writes are applied in: one global order of (kind's rank, key) in every group. */
class LinkedWriteOrderTest {
    record Write(String key, LinkedWrite.Kind kind) implements LinkedWrite {}

    private static final LinkedWrite.Kind STREAMS = LinkedWrite.Kind.of(LinkedWrite.STREAMS, (c, w) -> null);
    private static final LinkedWrite.Kind OUTBOX = LinkedWrite.Kind.of(LinkedWrite.OUTBOX_CLAIMS, (c, w) -> null);

    private static GroupCommitWriter.Batch batch(String key, LinkedWrite.Kind kind) {
        return new GroupCommitWriter.Batch(List.of(), List.of(), new Write(key, kind));
    }

    /**
     * Ordered by key first, a group [stream "a", outbox, stream "z"] would lock a, z, then the outbox's rows and a
     * group [outbox, stream "z"] the outbox's rows, then z: two instances' groups could wait on each other.
     */
    @Test
    void shouldApplyKindsInTheirFixedRankWhateverOrderTheGroupHasThemIn() {
        Map<LinkedWrite.Kind, List<Integer>> one =
                LogTable.linkedInOrder(List.of(batch("a", STREAMS), batch("keel_outbox", OUTBOX), batch("z", STREAMS)));
        Map<LinkedWrite.Kind, List<Integer>> two =
                LogTable.linkedInOrder(List.of(batch("keel_outbox", OUTBOX), batch("z", STREAMS)));

        assertThat(one.keySet()).containsExactly(STREAMS, OUTBOX);
        assertThat(one.get(STREAMS)).containsExactly(0, 2);
        assertThat(two.keySet()).containsExactly(STREAMS, OUTBOX);
        assertThat(two.get(STREAMS)).containsExactly(1);
    }

    @Test
    void shouldOrderByKeyWithinAKindKeepingTheGroupsOrderAmongEqualKeys() {
        Map<LinkedWrite.Kind, List<Integer>> order = LogTable.linkedInOrder(List.of(
                batch("z", STREAMS),
                new GroupCommitWriter.Batch(List.of(), List.of(), null),
                batch("b", STREAMS),
                batch("z", STREAMS),
                batch("a", STREAMS)));
        assertThat(order.keySet()).containsExactly(STREAMS);
        assertThat(order.get(STREAMS)).containsExactly(4, 2, 0, 3);
    }
}
