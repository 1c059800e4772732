package dev.keel.bench;

import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.kafka.KafkaBroker;
import dev.keel.kafka.KafkaJournal;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * End to end on one local Kafka broker with 8 partitions (started in its own JVM unless {@code KAFKA_BOOTSTRAP}
 * names one): emit or produce {@code events} events, time until every one is delivered and its offset committed.
 *
 * <ul>
 *   <li>{@code throughput}: Keel on Kafka (8 lanes, one no-op subscription); a plain kafka-clients loop (one
 *       consumer in a group, {@code commitSync} after each poll); Spring Kafka (a concurrent listener container,
 *       8 consumers, {@code DefaultErrorHandler}, batch acknowledgement). A warm-up round of each, then five
 *       rounds taking turns; medians, and the median of the per-round ratios of Keel to the loop.
 *   <li>{@code retries}: 1% of events fail twice before succeeding. Keel with {@code PER_KEY} retries; Spring
 *       Kafka's non-blocking retry topics; Spring Kafka's blocking retries ({@code DefaultErrorHandler} with a
 *       fixed back-off). Throughput, and per-key order violations: a success whose per-key number is lower than
 *       an earlier success of its key.
 * </ul>
 *
 * <p>{@code keel} runs Keel's part of {@code throughput} alone.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.KafkaProbe [throughput|keel|retries] [events]</pre>
 */
public final class KafkaProbe {
    static final int PARTITIONS = 8;
    static final int KEYS = 1024;
    private static final int ROUNDS = 5;
    private static final AtomicInteger TOPICS = new AtomicInteger();

    private KafkaProbe() {}

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "throughput";
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
        System.out.printf(
                "%s on Kafka (%,d events, %d partitions), JDK %s, %d cpus%n",
                mode, n, PARTITIONS, Runtime.version(), Runtime.getRuntime().availableProcessors());
        String external = System.getenv("KAFKA_BOOTSTRAP");
        KafkaBroker broker = external == null ? KafkaBroker.start() : null;
        String bootstrap = external != null ? external : broker.bootstrapServers();
        try {
            switch (mode) {
                case "throughput" -> {
                    try (KeelRounds keel = new KeelRounds(journal(bootstrap), PARTITIONS, KEYS, 5_000)) {
                        Round[] contenders = {
                            () -> keel.run(n),
                            () -> PlainConsumerPeer.run(bootstrap, topic(bootstrap), n),
                            () -> SpringKafkaPeer.blocking(bootstrap, topic(bootstrap), n, 0)
                                    .rate()
                        };
                        double[][] rates = interleaved(contenders);
                        report("keel", rates[0]);
                        report("kafka-clients loop", rates[1]);
                        report("spring-kafka", rates[2]);
                        System.out.printf(
                                "keel / kafka-clients loop: %.2f (median of the per-round ratios)%n",
                                medianRatio(rates[0], rates[1]));
                    }
                }
                case "keel" -> {
                    try (KeelRounds keel = new KeelRounds(journal(bootstrap), PARTITIONS, KEYS, 5_000)) {
                        report("keel", interleaved(new Round[] {() -> keel.run(n)})[0]);
                    }
                }
                case "retries" -> {
                    Result keel = keelRetries(bootstrap, n);
                    System.out.printf(
                            "keel PER_KEY retries: %,.0f events/s, %d order violations%n",
                            keel.rate(), keel.violations());
                    Result blocking = SpringKafkaPeer.blocking(bootstrap, topic(bootstrap), n, 2);
                    System.out.printf(
                            "spring-kafka blocking retries: %,.0f events/s, %d order violations%n",
                            blocking.rate(), blocking.violations());
                    Result topics = SpringKafkaPeer.retryTopics(bootstrap, topic(bootstrap), n);
                    System.out.printf(
                            "spring-kafka retry topics: %,.0f events/s, %d order violations%n",
                            topics.rate(), topics.violations());
                }
                default -> throw new IllegalArgumentException("mode must be throughput, keel or retries");
            }
        } finally {
            if (broker != null) {
                broker.close();
            }
        }
        System.exit(0);
    }

    /** The throughput and the per-key order violations of a run. */
    record Result(double rate, long violations) {}

    @FunctionalInterface
    interface Round {
        double run() throws Exception;
    }

    /**
     * A warm-up round of each contender, then {@value #ROUNDS} rounds in turn: on a shared machine whose broker
     * warms up as it goes, each contender meets the same conditions.
     */
    private static double[][] interleaved(Round[] contenders) throws Exception {
        double[][] rates = new double[contenders.length][ROUNDS];
        for (Round c : contenders) {
            c.run();
        }
        for (int i = 0; i < ROUNDS; i++) {
            for (int c = 0; c < contenders.length; c++) {
                rates[c][i] = contenders[c].run();
            }
        }
        return rates;
    }

    private static double medianRatio(double[] a, double[] b) {
        double[] ratios = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            ratios[i] = a[i] / b[i];
        }
        Arrays.sort(ratios);
        return ratios[ratios.length / 2];
    }

    private static void report(String who, double[] rates) {
        StringBuilder each = new StringBuilder();
        for (double r : rates) {
            each.append(each.isEmpty() ? "" : ", ").append(String.format("%,.0f", r));
        }
        Arrays.sort(rates);
        System.out.printf(
                "%s: median of %d rounds after warm-up: %,.0f events/s (rounds: %s)%n",
                who, rates.length, rates[rates.length / 2], each);
    }

    /** A fresh topic with 8 partitions. */
    static String topic(String bootstrap) throws Exception {
        String name = "peer-" + TOPICS.incrementAndGet();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
            admin.createTopics(List.of(new NewTopic(name, PARTITIONS, (short) 1)))
                    .all()
                    .get();
        }
        Thread.sleep(500);
        return name;
    }

    /** A journal on a topic of its own. */
    private static KafkaJournal journal(String bootstrap) {
        return KafkaJournal.builder()
                .bootstrapServers(bootstrap)
                .topic("keel-" + TOPICS.incrementAndGet())
                .replicationFactor(1)
                .build();
    }

    private static Keel keel(String bootstrap, Subscription sub) {
        return Keel.builder()
                .lanes(PARTITIONS)
                .journal(journal(bootstrap))
                .subscription(sub)
                .build();
    }

    /** Whether event {@code i} fails its first two attempts: 1% of events, spread over keys. */
    static boolean flaky(int i) {
        return i % 100 == 37;
    }

    private static Result keelRetries(String bootstrap, int events) throws Exception {
        LongAdder done = new LongAdder();
        LongAdder violations = new LongAdder();
        Map<Integer, Integer> failures = new ConcurrentHashMap<>();
        Map<String, Integer> last = new ConcurrentHashMap<>();
        try (Keel keel = keel(
                bootstrap,
                Subscription.builder("bench")
                        .types("bench.event")
                        .retry(RetryPolicy.builder()
                                .maxAttempts(5)
                                .initialDelay(Duration.ofMillis(10))
                                .build())
                        .handler(Integer.class, d -> {
                            int i = d.data();
                            if (flaky(i) && failures.merge(i, 1, Integer::sum) <= 2) {
                                throw new IllegalStateException("flaky " + i);
                            }
                            Integer before = last.put(d.event().partitionKey(), i);
                            if (before != null && before > i) {
                                violations.increment();
                            }
                            done.increment();
                        })
                        .build())) {
            keel.start();
            Semaphore window = new Semaphore(5_000);
            long start = System.nanoTime();
            for (int i = 0; i < events; i++) {
                window.acquire();
                keel.emit("bench.event", "key-" + (i % KEYS), i).whenComplete((r, e) -> window.release());
            }
            while (done.sum() < events) {
                LockSupport.parkNanos(1_000_000);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Result(events / seconds, violations.sum());
        }
    }
}
