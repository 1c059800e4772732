package dev.keel.kafka;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs the completions of appends off the producer's network thread, in bursts: the producer acknowledges
 * records one callback at a time, and a hand-off per record would cost more than the record. A burst runs every
 * completion queued when it starts and those queued while it runs.
 *
 * <p>Threads: any thread queues; one task at a time drains, on the executor.
 */
final class Completions {
    private final Executor executor;
    private final ConcurrentLinkedQueue<Runnable> queued = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean draining = new AtomicBoolean();

    Completions(Executor executor) {
        this.executor = executor;
    }

    void run(Runnable completion) {
        queued.add(completion);
        if (draining.compareAndSet(false, true)) {
            executor.execute(this::drain);
        }
    }

    private void drain() {
        while (true) {
            Runnable r;
            try {
                while ((r = queued.poll()) != null) {
                    try {
                        r.run();
                    } catch (Throwable t) {
                        // a completion's dependents threw: theirs to report, not ours to stop on
                    }
                }
            } finally {
                draining.set(false);
            }
            // Queued after the last poll and before the flag dropped: drain again unless another drain took it.
            if (queued.isEmpty() || !draining.compareAndSet(false, true)) {
                return;
            }
        }
    }
}
