package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.ShutdownReport;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class LifecycleTest {

    @Test
    void shouldDeliverContinuouslyFromManyProducersOnceStarted() throws Exception {
        ConcurrentHashMap<String, List<Integer>> byKey = new ConcurrentHashMap<>();
        AtomicInteger count = new AtomicInteger();
        try (Keel keel = Keel.builder().lanes(4).build()) {
            keel.on("tick.*", Integer.class, d -> {
                byKey.computeIfAbsent(
                                d.event().partitionKey(),
                                k -> java.util.Collections.synchronizedList(new ArrayList<>()))
                        .add(d.data());
                count.incrementAndGet();
            });
            keel.start();
            List<Thread> producers = new ArrayList<>();
            for (int p = 0; p < 4; p++) {
                String key = "producer-" + p;
                producers.add(Thread.ofVirtual().start(() -> {
                    for (int i = 0; i < 5_000; i++) {
                        keel.emit("tick.tock", key, i).join();
                    }
                }));
            }
            for (Thread t : producers) {
                t.join();
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> count.get() == 20_000);
            byKey.values().forEach(list -> assertThat(list).hasSize(5_000).isSorted());
        }
    }

    @Test
    void shouldDrainInFlightWorkOnCloseAndReportNothingLeft() {
        AtomicInteger handled = new AtomicInteger();
        Keel keel = Keel.builder().lanes(2).build();
        keel.on("job.*", Object.class, d -> {
            Thread.sleep(1);
            handled.incrementAndGet();
        });
        keel.start();
        for (int i = 0; i < 200; i++) {
            keel.emit("job.run", "k" + (i % 7), i).join();
        }
        ShutdownReport report = keel.close(Duration.ofSeconds(20));
        assertThat(report.drained()).isTrue();
        assertThat(report.undelivered()).isZero();
        assertThat(handled).hasValue(200);
        assertThatThrownBy(() -> keel.emit("job.run", "k", 1)).isInstanceOf(KeelClosedException.class);
        assertThat(keel.close(Duration.ofSeconds(1))).isEqualTo(report);
    }

    @Test
    void shouldReportWhatWasLeftWhenTheDeadlinePasses() {
        Keel keel = Keel.builder().lanes(1).build();
        keel.subscribe(Subscription.builder("slow")
                .types("job.*")
                .timeout(null)
                .handler(Object.class, d -> Thread.sleep(200))
                .build());
        keel.start();
        for (int i = 0; i < 20; i++) {
            keel.emit("job.run", "k", i).join();
        }
        ShutdownReport report = keel.close(Duration.ofMillis(100));
        assertThat(report.drained()).isFalse();
        assertThat(report.undelivered()).isGreaterThan(0);
        assertThat(report.interrupted()).isLessThanOrEqualTo(1);
    }
}
