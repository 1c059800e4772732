package dev.keel.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.memory.MemoryJournal;
import dev.keel.spring.autoconfigure.KeelAutoConfiguration;
import dev.keel.spring.test.KeelTest;
import dev.keel.test.TestClock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.context.annotation.Bean;

/** {@link KeelTest}: the memory engine, the test clock, and delivery when the test asks for it. */
@KeelTest(classes = KeelTestAnnotationTest.App.class)
class KeelTestAnnotationTest {
    @SpringBootConfiguration
    @ImportAutoConfiguration(KeelAutoConfiguration.class)
    static class App {
        @Bean
        Flaky flaky() {
            return new Flaky();
        }
    }

    static class Flaky {
        final List<Integer> attempts = new CopyOnWriteArrayList<>();

        @KeelListener(subscription = "flaky", types = "job.*", initialDelay = "10s", maxDelay = "10s")
        void run(dev.keel.Delivery<String> d) {
            attempts.add(d.attempt());
            if (d.attempt() == 1) {
                throw new IllegalStateException("first attempt fails");
            }
        }
    }

    @Autowired
    Keel keel;

    @Autowired
    KeelEvents events;

    @Autowired
    TestClock clock;

    @Autowired
    Flaky flaky;

    @Autowired
    dev.keel.spi.Journal journal;

    @Test
    void retriesWaitForTheTestClock() {
        assertThat(journal).isInstanceOf(MemoryJournal.class);

        events.emit("job.run", "j-1", "work");
        keel.process();
        assertThat(flaky.attempts).containsExactly(1);

        keel.process();
        assertThat(flaky.attempts).as("the retry waits for its backoff").containsExactly(1);

        clock.advance(Duration.ofSeconds(15));
        keel.process();
        assertThat(flaky.attempts).containsExactly(1, 2);
    }
}
