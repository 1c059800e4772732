package dev.keel.spring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.DeadLetterQuery;
import dev.keel.Delivery;
import dev.keel.Keel;
import dev.keel.KeelClosedException;
import dev.keel.spring.actuate.DeadLettersEndpoint;
import dev.keel.spring.actuate.KeelActuatorAutoConfiguration;
import dev.keel.spring.actuate.KeelHealthIndicator;
import dev.keel.spring.autoconfigure.InvalidKeelPropertyException;
import dev.keel.spring.autoconfigure.KeelAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The auto-configuration on the memory engine: properties, listeners, failures at start-up, Actuator, shutdown. */
class KeelAutoConfigurationTest {
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(KeelAutoConfiguration.class, KeelActuatorAutoConfiguration.class))
            .withPropertyValues(
                    "keel.engine=memory",
                    "keel.retry.initial-delay=10ms",
                    "keel.retry.max-delay=20ms",
                    "spring.jmx.enabled=true",
                    "management.endpoints.jmx.exposure.include=deadletters");

    record Order(String id, int amount) {}

    static class Listeners {
        final List<Order> billed = new CopyOnWriteArrayList<>();
        final List<String> shipped = new CopyOnWriteArrayList<>();
        final AtomicInteger refusals = new AtomicInteger();

        @KeelListener(subscription = "billing", types = "order.*")
        void bill(Order order) {
            billed.add(order);
        }

        @KeelListener(subscription = "shipping", types = "order.placed", maxAttempts = 2)
        void ship(Order order, Delivery<Order> delivery) {
            if (order.amount() < 0) {
                refusals.incrementAndGet();
                throw new IllegalStateException("cannot ship a negative amount, attempt " + delivery.attempt());
            }
            shipped.add(delivery.event().partitionKey());
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class ListenerConfig {
        @Bean
        Listeners listeners() {
            return new Listeners();
        }
    }

    @Test
    void listenersReceiveWhatTheApplicationEmits() {
        runner.withUserConfiguration(ListenerConfig.class).run(context -> {
            assertThat(context).hasNotFailed();
            KeelEvents events = context.getBean(KeelEvents.class);
            Listeners listeners = context.getBean(Listeners.class);
            assertThat(events.joinsTransaction()).isFalse();

            events.emit("order.placed", "o-1", new Order("o-1", 10));

            await().atMost(Duration.ofSeconds(10)).until(() -> listeners.shipped.contains("o-1"));
            await().atMost(Duration.ofSeconds(10)).until(() -> listeners.billed.contains(new Order("o-1", 10)));
            assertThat(context.getBean(Keel.class).subscriptions())
                    .extracting(s -> s.name())
                    .containsExactlyInAnyOrder("billing", "shipping");
        });
    }

    @Test
    void aListenerThatKeepsFailingIsDeadLetteredAfterItsAttemptsAndTheEndpointReprocessesIt() {
        runner.withUserConfiguration(ListenerConfig.class).run(context -> {
            KeelEvents events = context.getBean(KeelEvents.class);
            Listeners listeners = context.getBean(Listeners.class);
            Keel keel = context.getBean(Keel.class);
            DeadLettersEndpoint endpoint = context.getBean(DeadLettersEndpoint.class);

            events.emit("order.placed", "o-2", new Order("o-2", -1));

            await().atMost(Duration.ofSeconds(10))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            assertThat(listeners.refusals).hasValue(2);
            DeadLettersEndpoint.Page page = endpoint.list("shipping", null, null, null, null);
            assertThat(page.deadLetters()).hasSize(1);
            DeadLettersEndpoint.View view = page.deadLetters().get(0);
            assertThat(view.key()).isEqualTo("o-2");
            assertThat(view.errors()).hasSize(2).allMatch(e -> e.contains("cannot ship a negative amount"));
            assertThat(endpoint.get(view.id()).eventId()).isEqualTo(view.eventId());

            DeadLettersEndpoint.Reprocessed sent = endpoint.reprocess(view.id());
            assertThat(sent.sent()).isTrue();
            await().atMost(Duration.ofSeconds(10)).until(() -> listeners.refusals.get() == 4);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> keel.deadLetters().count("shipping") == 1);
            String again = keel.deadLetters()
                    .list(DeadLetterQuery.all().withSubscription("shipping"))
                    .get(0)
                    .id();
            assertThat(endpoint.delete(again)).isTrue();
            assertThat(endpoint.get(again)).isNull();
            assertThat(endpoint.reprocess("no-such-dead-letter")).isNull();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> endpoint.list(null, null, null, null, 5000))
                    .isInstanceOf(org.springframework.boot.actuate.endpoint.InvalidEndpointRequestException.class)
                    .hasMessageContaining("limit must be between 1 and 1000");
        });
    }

    @Test
    void propertiesOverrideTheAnnotationPerSubscription() {
        runner.withUserConfiguration(ListenerConfig.class)
                .withPropertyValues(
                        "keel.subscriptions.shipping.max-attempts=1", "keel.subscriptions.billing.enabled=false")
                .run(context -> {
                    Keel keel = context.getBean(Keel.class);
                    Listeners listeners = context.getBean(Listeners.class);
                    assertThat(keel.subscriptions()).extracting(s -> s.name()).containsExactly("shipping");

                    context.getBean(KeelEvents.class).emit("order.placed", "o-3", new Order("o-3", -5));

                    await().atMost(Duration.ofSeconds(10))
                            .until(() -> keel.deadLetters().count("shipping") == 1);
                    assertThat(listeners.refusals).hasValue(1);
                });
    }

    @Test
    void aWrongPropertyFailsStartUpNamingIt() {
        assertStartFails("keel.lanes=0", "keel.lanes", "0");
        assertStartFails("keel.retry.jitter=1.5", "keel.retry.jitter", "1.5");
        assertStartFails("keel.dedup-window=-1s", "keel.dedup-window", "PT-1S");
        assertStartFails("keel.max-depth=0", "keel.max-depth", "0");
        runner.withPropertyValues("keel.engine=jdbc", "keel.jdbc.url=jdbc:mysql://localhost/shop")
                .run(context -> {
                    assertThat(context).hasFailed();
                    assertThat(rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class))
                            .satisfies(e -> {
                                assertThat(e.property()).isEqualTo("keel.jdbc.url");
                                assertThat(e.getMessage())
                                        .contains("jdbc:sqlite:")
                                        .contains("jdbc:postgresql:");
                            });
                });
    }

    @Test
    void severalDataSourcesWithoutAPrimaryOneFailStartUpInsteadOfFallingBackToAFile() {
        runner.withPropertyValues("keel.engine=jdbc")
                .withBean("orders", javax.sql.DataSource.class, org.sqlite.SQLiteDataSource::new)
                .withBean("reports", javax.sql.DataSource.class, org.sqlite.SQLiteDataSource::new)
                .run(context -> {
                    InvalidKeelPropertyException e =
                            rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class);
                    assertThat(e.property()).isEqualTo("keel.jdbc.url");
                    assertThat(e.getMessage()).contains("none is @Primary");
                });
    }

    private void assertStartFails(String property, String name, String value) {
        runner.withPropertyValues(property).run(context -> {
            assertThat(context).hasFailed();
            InvalidKeelPropertyException e = rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class);
            assertThat(e.property()).isEqualTo(name);
            assertThat(e.value()).isEqualTo(value);
            assertThat(e.getMessage()).startsWith("invalid " + name + " = '" + value + "': ");
        });
    }

    static class TwoNamesAlike {
        @KeelListener(subscription = "audit", types = "a.*")
        void one(String s) {}

        @KeelListener(subscription = "audit", types = "b.*")
        void two(String s) {}
    }

    static class BadSignature {
        @KeelListener(subscription = "odd", types = "a.*")
        void odd(String a, String b) {}
    }

    static class BadDuration {
        @KeelListener(subscription = "slow", types = "a.*", timeout = "ten seconds")
        void slow(String a) {}
    }

    @Test
    void listenersThatCannotRunFailStartUpSayingWhy() {
        runner.withBean(TwoNamesAlike.class).run(context -> {
            InvalidKeelPropertyException e = rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class);
            assertThat(e.getMessage()).contains("TwoNamesAlike.one()").contains("TwoNamesAlike.two()");
        });
        runner.withBean(BadSignature.class).run(context -> {
            InvalidKeelPropertyException e = rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class);
            assertThat(e.getMessage()).contains("takes the event's data");
        });
        runner.withBean(BadDuration.class).run(context -> {
            InvalidKeelPropertyException e = rootOf(context.getStartupFailure(), InvalidKeelPropertyException.class);
            assertThat(e.property()).contains("timeout");
            assertThat(e.value()).isEqualTo("ten seconds");
        });
    }

    @Test
    void anApplicationsOwnKeelReplacesTheAutoConfiguredOne() {
        Keel own = Keel.builder().lanes(2).build();
        runner.withBean("keel", Keel.class, () -> own).run(context -> {
            assertThat(context.getBean(Keel.class)).isSameAs(own);
            assertThat(context.getBean(Keel.class).lanes()).isEqualTo(2);
        });
    }

    @Test
    void metersGoToTheApplicationsRegistryAndHealthShowsTheComponentTree() {
        runner.withUserConfiguration(ListenerConfig.class)
                .withBean(MeterRegistry.class, SimpleMeterRegistry::new)
                .withPropertyValues("keel.dead-letter-capacity=1", "keel.subscriptions.shipping.max-attempts=1")
                .run(context -> {
                    MeterRegistry registry = context.getBean(MeterRegistry.class);
                    KeelHealthIndicator health = context.getBean(KeelHealthIndicator.class);
                    assertThat(health.health().getStatus()).isEqualTo(Status.UP);
                    assertThat(health.health().getDetails()).containsKey("components");

                    context.getBean(KeelEvents.class).emit("order.placed", "o-4", new Order("o-4", -1));
                    await().atMost(Duration.ofSeconds(10))
                            .until(() ->
                                    context.getBean(Keel.class).deadLetters().count("shipping") == 1);

                    assertThat(registry.find("keel.events.emitted").counter()).isNotNull();
                    assertThat(registry.find("keel.events.emitted").counter().count())
                            .isEqualTo(1.0);
                    assertThat(health.health().getStatus()).isEqualTo(Status.DOWN);
                    assertThat(health.health().getDetails().get("reason").toString())
                            .contains("dead-letters");
                });
    }

    static class Slow {
        final CountDownLatch started = new CountDownLatch(1);
        final AtomicInteger finished = new AtomicInteger();

        @KeelListener(subscription = "slow", types = "job.*")
        void run(String job) throws InterruptedException {
            started.countDown();
            TimeUnit.MILLISECONDS.sleep(300); // a handler still busy when shutdown begins
            finished.incrementAndGet();
        }
    }

    @Test
    void closingTheContextStopsIntakeAndDrainsDeliveriesUnderWay() {
        Slow slow = new Slow();
        Keel[] keel = new Keel[1];
        runner.withBean(Slow.class, () -> slow).run(context -> {
            keel[0] = context.getBean(Keel.class);
            context.getBean(KeelEvents.class).emit("job.run", "j-1", "work");
            assertThat(slow.started.await(10, TimeUnit.SECONDS)).isTrue();
        });
        // The context is closed: the delivery under way finished before Keel closed, and Keel takes no more.
        assertThat(slow.finished).hasValue(1);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> keel[0].emit("job.run", "late"))
                .isInstanceOf(KeelClosedException.class);
    }

    @Test
    void spansGoThroughTheApplicationsOpenTelemetryFromEmitToDelivery() {
        InMemorySpanExporter spans = InMemorySpanExporter.create();
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        runner.withUserConfiguration(ListenerConfig.class)
                .withBean(OpenTelemetry.class, () -> otel)
                .run(context -> {
                    context.getBean(KeelEvents.class).emit("order.placed", "o-5", new Order("o-5", 5));
                    await().atMost(Duration.ofSeconds(10))
                            .until(() -> spans.getFinishedSpanItems().stream()
                                            .filter(s -> s.getName().equals("deliver order.placed"))
                                            .count()
                                    == 2);
                    SpanData emit = spans.getFinishedSpanItems().stream()
                            .filter(s -> s.getName().equals("emit order.placed"))
                            .findFirst()
                            .orElseThrow();
                    assertThat(spans.getFinishedSpanItems())
                            .filteredOn(s -> s.getName().startsWith("deliver"))
                            .allSatisfy(s -> assertThat(s.getTraceId()).isEqualTo(emit.getTraceId()));
                });
    }

    @Test
    void theDeadLetterEndpointIsNotExposedUnlessTheApplicationExposesIt() {
        new ApplicationContextRunner()
                .withConfiguration(
                        AutoConfigurations.of(KeelAutoConfiguration.class, KeelActuatorAutoConfiguration.class))
                .withPropertyValues("keel.engine=memory")
                .run(context -> {
                    assertThat(context).hasSingleBean(KeelHealthIndicator.class);
                    assertThat(context).doesNotHaveBean(DeadLettersEndpoint.class);
                });
    }

    static <T extends Throwable> T rootOf(Throwable failure, Class<T> type) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        throw new AssertionError("no " + type.getSimpleName() + " in " + failure, failure);
    }
}
