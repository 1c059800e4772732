package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class RecentAppendsTest {
    private static byte[] envelope(int size) {
        return new byte[size];
    }

    private static List<Long> sequences(List<RecentAppends.Entry> entries) {
        return entries.stream().map(RecentAppends.Entry::sequence).toList();
    }

    @Test
    void shouldServeOnlyAContiguousRunStartingRightAfterTheCursor() {
        RecentAppends recent = new RecentAppends(8);
        for (long seq = 1; seq <= 5; seq++) {
            recent.add(3, seq, envelope(10));
        }
        recent.add(3, 7, envelope(10)); // 6 was appended elsewhere (another instance): not here

        assertThat(sequences(recent.after(3, 0, 100))).containsExactly(1L, 2L, 3L, 4L, 5L);
        assertThat(sequences(recent.after(3, 2, 2))).containsExactly(3L, 4L);
        assertThat(recent.after(3, 5, 100)).isEmpty(); // the database has 6
        assertThat(sequences(recent.after(3, 6, 100))).containsExactly(7L);
        assertThat(recent.after(2, 0, 100)).isEmpty(); // lanes are separate
        assertThat(recent.after(3, 0, 0)).isEmpty();
    }

    @Test
    void shouldForgetWhatTheRingOverwroteAndWhatIsTooLargeToKeep() {
        RecentAppends recent = new RecentAppends(RecentAppends.TOTAL_ENTRIES / 64); // 64 entries a lane
        for (long seq = 1; seq <= 100; seq++) {
            recent.add(0, seq, envelope(10));
        }
        assertThat(recent.after(0, 0, 10)).isEmpty(); // 1 was overwritten by 65
        assertThat(sequences(recent.after(0, 36, 1000)))
                .hasSize(64)
                .startsWith(37L)
                .endsWith(100L);

        recent.add(0, 101, envelope(RecentAppends.MAX_ENVELOPE_BYTES + 1));
        recent.add(0, 102, envelope(10));
        assertThat(recent.after(0, 100, 10)).isEmpty(); // 101 must come from the database
        assertThat(sequences(recent.after(0, 101, 10))).containsExactly(102L);
    }

    @Test
    void shouldStayWithinItsBoundWithTheMostLanes() {
        RecentAppends recent = new RecentAppends(1024);
        for (long seq = 1; seq <= 40; seq++) {
            recent.add(1023, seq, envelope(10));
        }
        assertThat(sequences(recent.after(1023, 0, 100))).isEmpty(); // 16 a lane: 1 was overwritten
        assertThat(sequences(recent.after(1023, 24, 100))).hasSize(16).endsWith(40L);
    }

    @Test
    void shouldLeaveReadsOfWhatPruningMayHaveRemovedToTheDatabase() {
        RecentAppends recent = new RecentAppends(1);
        for (long seq = 1; seq <= 10; seq++) {
            recent.add(0, seq, envelope(10));
        }
        recent.forget(0, 4);
        assertThat(recent.after(0, 0, 10)).isEmpty();
        assertThat(recent.after(0, 3, 10)).isEmpty();
        assertThat(sequences(recent.after(0, 4, 2))).containsExactly(5L, 6L);
    }
}
