package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.Commit;
import dev.keel.spi.LaneLeases;
import dev.keel.spi.LeaseLostException;
import dev.keel.spi.Tally;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** Several runtimes on one PostgreSQL: each lane is delivered by one of them, and moves safely. */
class PostgresLeasesTest extends WithPostgres {

    /** One delivery: which instance, lane, key and event. */
    record Seen(String instance, int lane, String key, int index) {}

    private static Keel runtime(String url, String name, List<Seen> log) {
        Keel keel = Keel.builder()
                .lanes(8)
                .leaseDuration(Duration.ofMillis(800))
                .journal(JdbcJournal.postgres(url, server.user(), null))
                .build();
        keel.subscribe(Subscription.builder("orders")
                .types("order.*")
                .handler(
                        Integer.class,
                        d -> log.add(new Seen(name, d.lane(), d.event().partitionKey(), d.data())))
                .build());
        return keel;
    }

    private static void emit(Keel keel, int from, int to) {
        for (int i = from; i < to; i++) {
            keel.emit("order.placed", "k" + (i % 20), i).join();
        }
    }

    private static Set<Integer> distinct(List<Seen> log) {
        Set<Integer> out = new HashSet<>();
        log.forEach(s -> out.add(s.index()));
        return out;
    }

    @Test
    void shouldSplitLanesBetweenInstancesAndHandThemOverWithoutLosingOrReorderingEvents() throws Exception {
        String url = server.newDatabase();
        List<Seen> log = new CopyOnWriteArrayList<>();
        Keel a = runtime(url, "A", log).start();
        emit(a, 0, 200);
        Keel b = runtime(url, "B", log).start();
        await().atMost(Duration.ofSeconds(10))
                .until(() -> a.heldLanes().size() == 4 && b.heldLanes().size() == 4);
        assertThat(a.heldLanes()).doesNotContainAnyElementsOf(b.heldLanes());
        emit(b, 200, 400);
        await().atMost(Duration.ofSeconds(20)).until(() -> distinct(log).size() == 400);

        a.close();
        await().atMost(Duration.ofSeconds(10)).until(() -> b.heldLanes().size() == 8);
        emit(b, 400, 500);
        await().atMost(Duration.ofSeconds(20)).until(() -> distinct(log).size() == 500);
        b.close();

        // Each lane goes from A to B at most once and never back: no instance delivers after giving a lane up.
        Map<Integer, List<String>> byLane = new HashMap<>();
        for (Seen s : log) {
            List<String> seq = byLane.computeIfAbsent(s.lane(), k -> new ArrayList<>());
            if (seq.isEmpty() || !seq.getLast().equals(s.instance())) {
                seq.add(s.instance());
            }
        }
        byLane.forEach((lane, seq) -> assertThat(String.join("", seq))
                .as("instances on lane %d", lane)
                .matches("A*B*"));
        // Per key, first deliveries follow emit order.
        Map<String, Integer> last = new HashMap<>();
        Set<Integer> first = new HashSet<>();
        for (Seen s : log) {
            if (first.add(s.index())) {
                Integer before = last.put(s.key(), s.index());
                assertThat(before == null || before < s.index())
                        .as("key %s: %d after %d", s.key(), s.index(), before)
                        .isTrue();
            }
        }
    }

    @Test
    void shouldRefuseACommitFencedWithALeaseThatMovedOn() throws Exception {
        String url = server.newDatabase();
        try (JdbcJournal journal = JdbcJournal.postgres(url, server.user(), null)) {
            journal.open(2);
            LaneLeases leases = journal.leases().orElseThrow();
            long first = leases.heartbeat("x", Duration.ofMillis(300)).lanes().get(0);
            journal.commit(new Commit("s", 0, 1, List.of(), List.of(), List.of(), List.of(), Tally.ZERO, first));
            // Once x's lease has expired (by the database clock), y takes the lane with a newer token.
            long second = await().atMost(Duration.ofSeconds(5))
                    .pollInterval(Duration.ofMillis(50))
                    .until(
                            () -> leases.heartbeat("y", Duration.ofSeconds(5))
                                    .lanes()
                                    .get(0),
                            token -> token != null);
            assertThat(second).isGreaterThan(first);
            assertThatThrownBy(() -> journal.commit(
                            new Commit("s", 0, 2, List.of(), List.of(), List.of(), List.of(), Tally.ZERO, first)))
                    .isInstanceOf(LeaseLostException.class)
                    .hasMessageContaining("leased to another instance");
            assertThat(journal.cursor("s", 0)).hasValue(1);
            journal.commit(new Commit("s", 0, 2, List.of(), List.of(), List.of(), List.of(), Tally.ZERO, second));
            assertThat(journal.cursor("s", 0)).hasValue(2);
        }
    }
}
