package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three JVMs share one PostgreSQL; one is killed with SIGKILL while all are emitting and delivering.
 * Every acknowledged event is delivered, per-key order holds, and once a lane has moved to another
 * instance the earlier one never delivers on it again.
 */
class MultiInstanceTest {
    private static final int PER_INSTANCE = 1_500;

    @TempDir
    Path dir;

    record Seen(String instance, int lane, String key, int index, long seq) {}

    @Test
    void shouldDeliverEverythingInKeyOrderWhenOneOfThreeInstancesIsKilled() throws Exception {
        try (PostgresServer server = PostgresServer.start()) {
            String url = server.newDatabase();
            Path deliveries = dir.resolve("deliveries.log");
            List<Process> children = new ArrayList<>();
            try {
                for (int n = 0; n < 3; n++) {
                    children.add(child(url, "I" + n, n * PER_INSTANCE, (n + 1) * PER_INSTANCE, deliveries));
                }
                // Mid-load: once a third of all events have been delivered somewhere.
                await().atMost(Duration.ofSeconds(60))
                        .pollInterval(Duration.ofMillis(50))
                        .until(() -> read(deliveries).size() >= PER_INSTANCE);
                children.get(1).destroyForcibly(); // SIGKILL
                assertThat(children.get(1).waitFor(30, TimeUnit.SECONDS)).isTrue();

                Set<Integer> acked = new HashSet<>();
                await().atMost(Duration.ofSeconds(90))
                        .pollInterval(Duration.ofMillis(500))
                        .until(() -> {
                            acked.clear();
                            for (int n = 0; n < 3; n++) {
                                acked.addAll(ints(dir.resolve("acks-I" + n + ".log")));
                            }
                            Set<Integer> seen = new HashSet<>();
                            read(deliveries).forEach(s -> seen.add(s.index()));
                            return acked.size() >= 2 * PER_INSTANCE && seen.containsAll(acked);
                        });
            } finally {
                children.forEach(Process::destroyForcibly);
            }

            List<Seen> log = read(deliveries);
            Map<String, Long> lastFirst = new HashMap<>();
            Set<Integer> first = new HashSet<>();
            Map<Integer, List<String>> owners = new HashMap<>();
            for (Seen s : log) {
                if (first.add(s.index())) {
                    // Per key, first deliveries follow the lane's order (instances emit concurrently, so not the
                    // index's).
                    Long before = lastFirst.put(s.key(), s.seq());
                    assertThat(before == null || before < s.seq())
                            .as("key %s: sequence %d first delivered after %d", s.key(), s.seq(), before)
                            .isTrue();
                }
                // A lane may return to an instance only after the killed one held it (its lease expired meanwhile);
                // between survivors it never goes back.
                if (!s.instance().equals("I1")) {
                    List<String> seq = owners.computeIfAbsent(s.lane(), k -> new ArrayList<>());
                    if (seq.isEmpty() || !seq.getLast().equals(s.instance())) {
                        assertThat(seq)
                                .as(
                                        "lane %d went back to %s after it moved on: %s; its deliveries: %s",
                                        s.lane(), s.instance(), seq, timeline(log, s.lane()))
                                .doesNotContain(s.instance());
                        seq.add(s.instance());
                    }
                }
            }
            assertThat(log.stream().map(Seen::instance).distinct())
                    .as("instances that delivered")
                    .hasSizeGreaterThanOrEqualTo(2);
        }
    }

    /** Who delivered on a lane, in the order of the log: each run of one instance with its first and last sequence. */
    private static String timeline(List<Seen> log, int lane) {
        StringBuilder out = new StringBuilder();
        Seen first = null;
        Seen last = null;
        for (Seen s : log) {
            if (s.lane() != lane) {
                continue;
            }
            if (last != null && !last.instance().equals(s.instance())) {
                out.append(first.instance())
                        .append(" ")
                        .append(first.seq())
                        .append("..")
                        .append(last.seq())
                        .append("; ");
                first = null;
            }
            if (first == null) {
                first = s;
            }
            last = s;
        }
        if (first != null) {
            out.append(first.instance())
                    .append(" ")
                    .append(first.seq())
                    .append("..")
                    .append(last.seq());
        }
        return out.toString();
    }

    private Process child(String url, String name, int from, int to, Path deliveries) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(
                        java,
                        "--enable-native-access=ALL-UNNAMED",
                        "-Xmx256m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        LeaseChild.class.getName(),
                        url,
                        name,
                        Integer.toString(from),
                        Integer.toString(to),
                        dir.resolve("acks-" + name + ".log").toString(),
                        deliveries.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("out-" + name + ".log").toFile())
                .start();
    }

    private static Set<Integer> ints(Path file) throws IOException {
        Set<Integer> out = new HashSet<>();
        if (!Files.exists(file)) {
            return out;
        }
        for (String line : Files.readAllLines(file)) {
            try {
                out.add(Integer.parseInt(line.trim()));
            } catch (NumberFormatException torn) {
                // a line cut short by the kill
            }
        }
        return out;
    }

    private static List<Seen> read(Path file) throws IOException {
        List<Seen> out = new ArrayList<>();
        if (!Files.exists(file)) {
            return out;
        }
        for (String line : Files.readAllLines(file)) {
            String[] p = line.trim().split(" ");
            if (p.length == 5) {
                try {
                    out.add(new Seen(p[0], Integer.parseInt(p[1]), p[2], Integer.parseInt(p[3]), Long.parseLong(p[4])));
                } catch (NumberFormatException torn) {
                    // a line cut short by the kill
                }
            }
        }
        return out;
    }
}
