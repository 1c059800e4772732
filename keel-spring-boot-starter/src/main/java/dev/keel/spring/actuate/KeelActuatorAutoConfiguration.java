package dev.keel.spring.actuate;

import dev.keel.Keel;
import dev.keel.spring.autoconfigure.KeelAutoConfiguration;
import dev.keel.spring.autoconfigure.KeelOutbox;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Keel in Spring Boot Actuator: the {@code keel} health indicator (turn it off with
 * {@code management.health.keel.enabled=false}) and the {@code deadletters} endpoint. Keel's meters go to the
 * application's {@code MeterRegistry} through {@link KeelAutoConfiguration}.
 */
@AutoConfiguration(after = KeelAutoConfiguration.class)
@ConditionalOnBean(Keel.class)
public class KeelActuatorAutoConfiguration {

    /** The health indicator, when Spring Boot's health support is present. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(HealthIndicator.class)
    @ConditionalOnEnabledHealthIndicator("keel")
    static class Health {
        @Bean
        @ConditionalOnMissingBean(name = "keelHealthIndicator")
        KeelHealthIndicator keelHealthIndicator(Keel keel, ObjectProvider<KeelOutbox> outbox) {
            return new KeelHealthIndicator(keel, outbox.getIfAvailable(KeelOutbox::none));
        }
    }

    /** The dead-letter endpoint, when Actuator is present and the endpoint is enabled and exposed. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.actuate.endpoint.annotation.Endpoint")
    @ConditionalOnAvailableEndpoint(DeadLettersEndpoint.class)
    static class Endpoints {
        @Bean
        @ConditionalOnMissingBean
        DeadLettersEndpoint deadLettersEndpoint(Keel keel) {
            return new DeadLettersEndpoint(keel);
        }

        @Bean
        @ConditionalOnMissingBean
        DeadLettersWebExtension deadLettersWebExtension(DeadLettersEndpoint endpoint) {
            return new DeadLettersWebExtension(endpoint);
        }
    }
}
