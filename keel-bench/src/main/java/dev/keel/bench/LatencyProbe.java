package dev.keel.bench;

import com.lmax.disruptor.BlockingWaitStrategy;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import dev.keel.Keel;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Emit → handler latency at a fixed offered rate (not a closed loop, so queueing shows): a producer emits
 * {@code rate} events per second for {@code seconds}, each carrying its emit time; the handler records
 * {@code now - emitted}. Each contestant first runs {@code warmup} seconds unrecorded (the JIT needs a few
 * seconds on a small machine). Prints p50, p99, p99.9 and max for
 * Keel and, in the same run, for the LMAX Disruptor doing the same hand-off.
 *
 * <pre>java -cp keel-bench/target/benchmarks.jar dev.keel.bench.LatencyProbe [rate] [seconds] [lanes] [warmup]</pre>
 */
public final class LatencyProbe {
    private LatencyProbe() {}

    /** The payload: when it was emitted. */
    record Stamp(long nanos, boolean recorded) {}

    public static void main(String[] args) throws Exception {
        int rate = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int lanes = args.length > 2 ? Integer.parseInt(args[2]) : 8;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        System.out.printf(
                "offered rate %,d events/s for %d s after %d s of warm-up, %d lanes, JDK %s, %d cpus%n",
                rate,
                seconds,
                warmup,
                lanes,
                Runtime.version(),
                Runtime.getRuntime().availableProcessors());
        report("keel", keel(rate, seconds, lanes, warmup));
        report("disruptor (blocking)", disruptor(rate, seconds, warmup));
    }

    private static long[] keel(int rate, int seconds, int lanes, int warmup) throws InterruptedException {
        Recorder rec = new Recorder(rate * seconds);
        try (Keel keel = Keel.builder().lanes(lanes).build()) {
            keel.subscribe(Subscription.builder("latency")
                    .types("probe.tick")
                    .handler(Stamp.class, d -> rec.record(d.data()))
                    .build());
            keel.start();
            String[] keys = new String[1024];
            for (int i = 0; i < keys.length; i++) {
                keys[i] = "key-" + i;
            }
            drive(rate, seconds, warmup, (i, stamp) -> keel.emit("probe.tick", keys[i & 1023], stamp));
            rec.await(rate * seconds);
        }
        return rec.sorted();
    }

    private static long[] disruptor(int rate, int seconds, int warmup) throws InterruptedException {
        Recorder rec = new Recorder(rate * seconds);
        Disruptor<InMemoryThroughputBenchmark.Slot> d = new Disruptor<>(
                InMemoryThroughputBenchmark.Slot::new,
                1 << 16,
                Thread.ofPlatform().daemon().factory(),
                ProducerType.SINGLE,
                new BlockingWaitStrategy());
        d.handleEventsWith((slot, seq, end) -> rec.record((Stamp) slot.value));
        RingBuffer<InMemoryThroughputBenchmark.Slot> ring = d.start();
        drive(rate, seconds, warmup, (i, stamp) -> {
            long seq = ring.next();
            ring.get(seq).value = stamp;
            ring.publish(seq);
        });
        rec.await(rate * seconds);
        d.halt();
        return rec.sorted();
    }

    interface Sender {
        void send(int i, Stamp stamp);
    }

    private static void drive(int rate, int seconds, int warmup, Sender sender) {
        long interval = 1_000_000_000L / rate;
        long start = System.nanoTime();
        long warmEnd = (long) rate * warmup;
        long total = (long) rate * (seconds + warmup);
        for (long i = 0; i < total; i++) {
            long due = start + i * interval;
            long now;
            while ((now = System.nanoTime()) < due) {
                if (due - now > 20_000) {
                    LockSupport.parkNanos(due - now - 10_000);
                } else {
                    Thread.onSpinWait();
                }
            }
            sender.send((int) i, new Stamp(System.nanoTime(), i >= warmEnd));
        }
    }

    private static final class Recorder {
        private final long[] samples;
        private final AtomicInteger count = new AtomicInteger();

        Recorder(int capacity) {
            samples = new long[capacity];
        }

        void record(Stamp s) {
            if (s.recorded()) {
                long latency = System.nanoTime() - s.nanos();
                int i = count.getAndIncrement();
                if (i < samples.length) {
                    samples[i] = latency;
                }
            }
        }

        void await(int n) throws InterruptedException {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (count.get() < n && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
        }

        long[] sorted() {
            long[] s = Arrays.copyOf(samples, Math.min(count.get(), samples.length));
            Arrays.sort(s);
            return s;
        }
    }

    private static void report(String name, long[] s) {
        if (s.length == 0) {
            System.out.printf("%-22s no samples%n", name);
            return;
        }
        System.out.printf(
                "%-22s n=%,d  p50=%,.1f µs  p99=%,.1f µs  p99.9=%,.1f µs  max=%,.1f µs%n",
                name, s.length, pct(s, 0.50), pct(s, 0.99), pct(s, 0.999), s[s.length - 1] / 1000.0);
    }

    private static double pct(long[] sorted, double p) {
        return Percentiles.of(sorted, p) / 1000.0;
    }
}
