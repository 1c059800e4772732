package dev.keel.test.chaos;

import dev.keel.Keel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A steady emit load on a runtime, and a record of what came of it, for fault tests: one producer emits numbered
 * events of {@link #TYPE} one after another (each waits for the previous emit's future, as a careful caller
 * does), over a few keys; a subscription records every delivery. A test injects a fault meanwhile and then asks
 * {@link #undelivered()} (acknowledged emits not delivered: must end empty), {@link #failures()} (what the emits
 * that failed threw) and {@link #outOfOrder()} (keys whose events were first delivered out of emit order).
 *
 * <pre>{@code
 * SteadyLoad load = SteadyLoad.on(keel); // before keel.start()
 * keel.start();
 * load.start();
 * ... a fault ...
 * await().until(() -> load.acknowledged() > before + 50); // recovered
 * load.stop();
 * await().until(() -> load.undelivered().isEmpty());
 * }</pre>
 *
 * <p>Threads: the producer ({@code chaos-load}, a virtual thread) owns the next number and the time of the emit it
 * waits for; it publishes outcomes to concurrent sets and lists and atomics, which any thread may read. Lane
 * runners record deliveries into the same kind of sets.
 */
public final class SteadyLoad implements AutoCloseable {
    /** The type of the events emitted. */
    public static final String TYPE = "chaos.tick";
    /** The name of the subscription that records deliveries. */
    public static final String SUBSCRIPTION = "chaos-recorder";
    /** How many keys the events are spread over. */
    public static final int KEYS = 8;

    /** An emit that failed: its number, how long the caller waited for the failure, and what it threw. */
    public record Failure(long number, Duration waited, Throwable error) {}

    private final Keel keel;
    private final Set<Long> acknowledged = ConcurrentHashMap.newKeySet();
    private final Set<Long> delivered = ConcurrentHashMap.newKeySet();
    private final List<Failure> failures = new CopyOnWriteArrayList<>();
    /** Per key, numbers in the order they were first delivered. */
    private final List<List<Long>> firstDeliveries = new ArrayList<>();

    private final AtomicLong longestAcknowledgedNanos = new AtomicLong();
    private volatile boolean running;
    private volatile long waitingSince;
    private Thread producer;

    private SteadyLoad(Keel keel) {
        this.keel = keel;
        for (int k = 0; k < KEYS; k++) {
            firstDeliveries.add(new CopyOnWriteArrayList<>());
        }
    }

    /** Subscribes the recorder to {@link #TYPE}; call before the runtime starts. */
    public static SteadyLoad on(Keel keel) {
        Objects.requireNonNull(keel, "keel");
        SteadyLoad load = new SteadyLoad(keel);
        keel.on(SUBSCRIPTION, TYPE, Long.class, d -> load.record(d.data()));
        return load;
    }

    private void record(long number) {
        if (delivered.add(number)) {
            firstDeliveries.get((int) (number % KEYS)).add(number);
        }
    }

    /** Starts emitting. */
    public synchronized void start() {
        if (producer != null) {
            throw new IllegalStateException("the load has started already");
        }
        running = true;
        producer = Thread.ofVirtual().name("chaos-load").start(this::produce);
    }

    private void produce() {
        for (long n = 0; running; n++) {
            long start = System.nanoTime();
            waitingSince = start;
            try {
                keel.emit(TYPE, "key-" + (n % KEYS), n).get();
                acknowledged.add(n);
                longestAcknowledgedNanos.accumulateAndGet(System.nanoTime() - start, Math::max);
            } catch (ExecutionException e) {
                failures.add(new Failure(n, Duration.ofNanos(System.nanoTime() - start), e.getCause()));
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                // refused before the journal was asked (intake full, closed)
                failures.add(new Failure(n, Duration.ofNanos(System.nanoTime() - start), e));
            } finally {
                waitingSince = 0;
            }
        }
    }

    /** Stops emitting and waits up to 30 s for the emit under way; interrupts the producer past that. */
    public void stop() {
        running = false;
        Thread p;
        synchronized (this) {
            p = producer;
        }
        if (p == null) {
            return;
        }
        try {
            if (!p.join(Duration.ofSeconds(30))) {
                p.interrupt();
                p.join(Duration.ofSeconds(5));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        stop();
    }

    /** Emits acknowledged (their futures completed normally) so far. */
    public int acknowledged() {
        return acknowledged.size();
    }

    /** Events delivered (each counted once) so far. */
    public int delivered() {
        return delivered.size();
    }

    /** Acknowledged emits whose events have not been delivered yet, in order. */
    public List<Long> undelivered() {
        return acknowledged.stream()
                .filter(n -> !delivered.contains(n))
                .sorted()
                .toList();
    }

    /** The emits that failed, in order. */
    public List<Failure> failures() {
        return List.copyOf(failures);
    }

    /** The longest an acknowledged emit waited for its future. */
    public Duration longestAcknowledgedWait() {
        return Duration.ofNanos(longestAcknowledgedNanos.get());
    }

    /** How long the emit under way has waited so far; zero when none waits. */
    public Duration currentWait() {
        long since = waitingSince;
        return since == 0 ? Duration.ZERO : Duration.ofNanos(Math.max(0, System.nanoTime() - since));
    }

    /**
     * Keys whose events were first delivered in another order than they were emitted, with their numbers; empty
     * when every key kept its order.
     */
    public List<String> outOfOrder() {
        List<String> wrong = new ArrayList<>();
        for (int k = 0; k < KEYS; k++) {
            List<Long> seen = List.copyOf(firstDeliveries.get(k));
            for (int i = 1; i < seen.size(); i++) {
                if (seen.get(i) < seen.get(i - 1)) {
                    wrong.add("key-" + k + ": " + seen.get(i - 1) + " before " + seen.get(i));
                    break;
                }
            }
        }
        return wrong;
    }

    @Override
    public String toString() {
        return "SteadyLoad[" + acknowledged() + " acknowledged, " + failures.size() + " failed, " + delivered()
                + " delivered, longest acknowledged wait "
                + longestAcknowledgedWait().toMillis() + " ms]";
    }
}
