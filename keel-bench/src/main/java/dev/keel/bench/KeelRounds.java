package dev.keel.bench;

import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.spi.Journal;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * One Keel runtime on a journal, emitting rounds of events to a no-op subscription: what the end-to-end probes of
 * the shared engines (Kafka, Redis) measure against their plain client loops.
 */
final class KeelRounds implements AutoCloseable {
    private final LongAdder delivered = new LongAdder();
    private final Keel keel;
    private final int keys;
    private final int window;

    /** A runtime of {@code lanes} lanes on the journal; emits spread over {@code keys} keys, {@code window} in flight. */
    KeelRounds(Journal journal, int lanes, int keys, int window) {
        this.keys = keys;
        this.window = window;
        keel = Keel.builder()
                .lanes(lanes)
                .journal(journal)
                .subscription(Subscription.builder("bench")
                        .types("bench.event")
                        .handler(Object.class, d -> delivered.increment())
                        .build())
                .build();
        keel.start();
    }

    /** Emits the events; the rate until all are delivered and their cursors committed. */
    double run(int events) throws InterruptedException {
        Semaphore inFlight = new Semaphore(window);
        long target = delivered.sum() + events;
        long start = System.nanoTime();
        for (int i = 0; i < events; i++) {
            inFlight.acquire();
            keel.emit("bench.event", "key-" + (i % keys), i).whenComplete((r, e) -> inFlight.release());
        }
        while (delivered.sum() < target || keel.stats().subscription("bench").lag() > 0) {
            LockSupport.parkNanos(1_000_000);
        }
        return events / ((System.nanoTime() - start) / 1e9);
    }

    @Override
    public void close() {
        keel.close();
    }
}
