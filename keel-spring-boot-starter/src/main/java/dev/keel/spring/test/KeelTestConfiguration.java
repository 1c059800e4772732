package dev.keel.spring.test;

import dev.keel.spring.autoconfigure.KeelAutoConfiguration;
import dev.keel.test.TestClock;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.context.annotation.Bean;

/** What {@link KeelTest} adds: the {@code keelClock} bean, a {@link TestClock} the test moves by hand. */
@TestConfiguration(proxyBeanMethods = false)
public class KeelTestConfiguration {
    @Bean(KeelAutoConfiguration.CLOCK)
    TestClock keelClock() {
        return TestClock.create();
    }
}
