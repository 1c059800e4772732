package dev.keel.bench;

import com.google.common.eventbus.AllowConcurrentEvents;
import com.google.common.eventbus.AsyncEventBus;
import com.google.common.eventbus.Subscribe;
import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import dev.keel.Keel;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import reactor.util.concurrent.Queues;

/**
 * One producer hands {@value #BATCH} events to {@code subscriptions} no-op consumers, each of which must see
 * every event; an operation is one event, measured from the first publish to the last delivery of the batch.
 * Keel spreads the events over {@code lanes} lanes by key (with per-key order, retries and dead letters armed);
 * the peers do the same hand-off their own way: the Disruptor with one ring and one handler per subscription,
 * Guava's AsyncEventBus on a pool of {@code lanes} threads, Reactor with a multicast sink and one
 * {@code publishOn} (or {@code parallel(lanes)}) pipeline per subscription.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(
        value = 1,
        jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class InMemoryThroughputBenchmark {
    static final int BATCH = 20_000;
    private static final int KEYS = 1024;

    @Param({"1", "8"})
    int lanes;

    @Param({"1", "4"})
    int subscriptions;

    private final String[] keys = new String[KEYS];
    private final Integer payload = 42;
    private LongAdder[] counters;
    /** Keel's consumers know their lane, so each counts in its own cache line, as each Disruptor handler does. */
    private java.util.concurrent.atomic.AtomicLongArray laneCounts;

    private static final int PAD = 16;
    private long expected;

    private Keel keel;
    private Disruptor<Slot> disruptor;
    private RingBuffer<Slot> ring;
    private AsyncEventBus bus;
    private ExecutorService busPool;
    private Sinks.Many<Object> sink;
    private final List<Scheduler> schedulers = new ArrayList<>();
    private final List<reactor.core.Disposable> reactorSubs = new ArrayList<>();

    /** A Disruptor ring slot. */
    public static final class Slot {
        Object value;
    }

    /** A Guava subscriber. */
    public static final class GuavaSubscriber {
        private final LongAdder counter;

        GuavaSubscriber(LongAdder counter) {
            this.counter = counter;
        }

        @Subscribe
        @AllowConcurrentEvents
        public void on(Integer event) {
            counter.increment();
        }
    }

    @Setup(Level.Trial)
    public void setUp(org.openjdk.jmh.infra.BenchmarkParams params) {
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
        }
        counters = new LongAdder[subscriptions];
        for (int i = 0; i < subscriptions; i++) {
            counters[i] = new LongAdder();
        }
        expected = 0;
        String contestant = params.getBenchmark();
        if (contestant.endsWith("keel")) {
            Keel.Builder b = Keel.builder().lanes(lanes).intake(0, Duration.ZERO);
            keel = b.build();
            laneCounts = new java.util.concurrent.atomic.AtomicLongArray(subscriptions * lanes * PAD);
            for (int s = 0; s < subscriptions; s++) {
                int base = s * lanes;
                keel.subscribe(Subscription.builder("bench-" + s)
                        .types("bench.event")
                        .handler(Object.class, d -> {
                            int at = (base + d.lane()) * PAD;
                            laneCounts.lazySet(at, laneCounts.get(at) + 1);
                        })
                        .build());
            }
            keel.start();
        } else if (contestant.endsWith("disruptorBlocking")) {
            disruptor = new Disruptor<>(
                    Slot::new,
                    1 << 16,
                    Thread.ofPlatform().daemon().factory(),
                    ProducerType.SINGLE,
                    new BlockingWaitStrategy());
            @SuppressWarnings("unchecked")
            EventHandler<Slot>[] handlers = new EventHandler[subscriptions];
            for (int s = 0; s < subscriptions; s++) {
                LongAdder c = counters[s];
                handlers[s] = (slot, seq, end) -> c.increment();
            }
            disruptor.handleEventsWith(handlers);
            ring = disruptor.start();
        } else if (contestant.endsWith("guavaAsyncEventBus")) {
            busPool = Executors.newFixedThreadPool(lanes);
            bus = new AsyncEventBus(busPool);
            for (int s = 0; s < subscriptions; s++) {
                bus.register(new GuavaSubscriber(counters[s]));
            }
        } else if (contestant.endsWith("reactorSink")) {
            sink = Sinks.many().multicast().onBackpressureBuffer(Queues.SMALL_BUFFER_SIZE * 64, false);
            for (int s = 0; s < subscriptions; s++) {
                LongAdder c = counters[s];
                Flux<Object> flux = sink.asFlux();
                if (lanes == 1) {
                    Scheduler single = Schedulers.newSingle("reactor-sub-" + s, true);
                    schedulers.add(single);
                    reactorSubs.add(flux.publishOn(single, 256).subscribe(v -> c.increment()));
                } else {
                    Scheduler pool = Schedulers.newParallel("reactor-sub-" + s, lanes, true);
                    schedulers.add(pool);
                    reactorSubs.add(flux.parallel(lanes).runOn(pool, 256).subscribe(v -> c.increment()));
                }
            }
        }
    }

    private long laneSum(int subscription) {
        long sum = 0;
        for (int lane = 0; lane < lanes; lane++) {
            sum += laneCounts.get((subscription * lanes + lane) * PAD);
        }
        return sum;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (keel != null) {
            keel.close(Duration.ofSeconds(5));
            keel = null;
            laneCounts = null;
        }
        if (disruptor != null) {
            disruptor.halt();
            disruptor = null;
        }
        if (busPool != null) {
            busPool.shutdownNow();
            busPool = null;
        }
        reactorSubs.forEach(reactor.core.Disposable::dispose);
        reactorSubs.clear();
        schedulers.forEach(Scheduler::dispose);
        schedulers.clear();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void keel() {
        for (int i = 0; i < BATCH; i++) {
            keel.emit("bench.event", keys[i & (KEYS - 1)], payload);
        }
        awaitAll();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void disruptorBlocking() {
        for (int i = 0; i < BATCH; i++) {
            long seq = ring.next();
            ring.get(seq).value = payload;
            ring.publish(seq);
        }
        awaitAll();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void guavaAsyncEventBus() {
        for (int i = 0; i < BATCH; i++) {
            bus.post(payload);
        }
        awaitAll();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void reactorSink() {
        for (int i = 0; i < BATCH; i++) {
            while (sink.tryEmitNext(payload).isFailure()) {
                Thread.onSpinWait();
            }
        }
        awaitAll();
    }

    /**
     * Waits for every consumer to see the whole batch. It parks rather than spins: on a small machine a
     * spinning producer would take a core from the consumers of every contestant alike.
     */
    private void awaitAll() {
        expected += BATCH;
        if (laneCounts != null) {
            for (int s = 0; s < subscriptions; s++) {
                while (laneSum(s) < expected) {
                    java.util.concurrent.locks.LockSupport.parkNanos(20_000);
                }
            }
            return;
        }
        for (LongAdder c : counters) {
            while (c.sum() < expected) {
                java.util.concurrent.locks.LockSupport.parkNanos(20_000);
            }
        }
    }
}
