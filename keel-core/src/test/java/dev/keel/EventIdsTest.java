package dev.keel;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class EventIdsTest {

    @Test
    void shouldMakeVersion7IdsThatSortByCreationEvenWithinOneMillisecond() {
        List<String> ids = new ArrayList<>();
        long before = System.currentTimeMillis();
        for (int i = 0; i < 20_000; i++) {
            ids.add(EventIds.next());
        }
        assertThat(ids).doesNotHaveDuplicates().isSorted();
        UUID first = UUID.fromString(ids.getFirst());
        assertThat(first.version()).isEqualTo(7);
        assertThat(first.variant()).isEqualTo(2);
        assertThat(EventIds.timestampOf(ids.getFirst())).isBetween(before, System.currentTimeMillis() + 1000);
    }

    @Test
    void shouldFillInAnIdTimeAndSourceWhenBuildingAnEvent() {
        Event<String> e = Event.builder("order.created", "x").build();
        assertThat(UUID.fromString(e.id()).version()).isEqualTo(7);
        assertThat(e.source()).isEqualTo(Event.DEFAULT_SOURCE);
        assertThat(e.specVersion()).isEqualTo("1.0");
        assertThat(e.dataContentType()).isEqualTo("application/json");
        assertThat(e.orderingKey()).isEqualTo(e.id());
        assertThat(e.toBuilder().key("k").build().orderingKey()).isEqualTo("k");
    }
}
