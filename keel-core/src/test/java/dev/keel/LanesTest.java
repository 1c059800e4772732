package dev.keel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LanesTest {

    @Test
    void shouldMapAKeyToTheSameLaneForeverBecauseDurableLogsDependOnIt() {
        assertThat(Lanes.of("order-1", 8)).isEqualTo(Lanes.of("order-1", 8));
        // Fixed points of the documented mapping: a change here moves keys of existing data to other lanes.
        assertThat(Lanes.of("", 8)).isZero();
        assertThat(Lanes.of("order-1", 8)).isEqualTo(1);
        assertThat(Lanes.of("order-1", 8)).isEqualTo(Lanes.of(new String("order-1"), 8));
        assertThat(Lanes.of("a", 1)).isZero();
    }

    @Test
    void shouldSpreadKeysEvenlyOverLanes() {
        Map<Integer, Integer> counts = new HashMap<>();
        for (int i = 0; i < 80_000; i++) {
            counts.merge(Lanes.of("customer-" + i, 8), 1, Integer::sum);
        }
        assertThat(counts).hasSize(8);
        assertThat(counts.values()).allSatisfy(c -> assertThat(c).isBetween(9_000, 11_000));
    }
}
