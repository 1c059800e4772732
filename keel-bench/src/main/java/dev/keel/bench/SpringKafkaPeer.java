package dev.keel.bench;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.kafka.annotation.EnableKafka;
import org.springframework.kafka.annotation.EnableKafkaRetryTopic;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.core.ConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaAdmin;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.core.ProducerFactory;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.DefaultErrorHandler;
import org.springframework.kafka.listener.MessageListener;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.kafka.retrytopic.RetryTopicConfiguration;
import org.springframework.kafka.retrytopic.RetryTopicConfigurationBuilder;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.util.backoff.FixedBackOff;

/**
 * Spring Kafka doing the probe's work: a concurrent listener container with 8 consumers, batch acknowledgement,
 * and either its blocking retries ({@code DefaultErrorHandler}, 10 ms apart) or its non-blocking retry topics
 * (10 ms back-off, 3 attempts), with the same 1% of events failing twice.
 */
final class SpringKafkaPeer {
    private SpringKafkaPeer() {}

    /** What a run counts: successes, and successes that came after a higher number of their key. */
    static final class Counters {
        final LongAdder done = new LongAdder();
        final LongAdder violations = new LongAdder();
        final Map<Integer, Integer> failures = new ConcurrentHashMap<>();
        final Map<String, Integer> last = new ConcurrentHashMap<>();
        final int failTimes;

        Counters(int failTimes) {
            this.failTimes = failTimes;
        }

        void handle(ConsumerRecord<String, String> r) {
            int i = Integer.parseInt(r.value());
            if (failTimes > 0 && KafkaProbe.flaky(i) && failures.merge(i, 1, Integer::sum) <= failTimes) {
                throw new IllegalStateException("flaky " + i);
            }
            Integer before = last.put(r.key(), i);
            if (before != null && before > i) {
                violations.increment();
            }
            done.increment();
        }

        KafkaProbe.Result await(long start, int events) {
            while (done.sum() < events) {
                LockSupport.parkNanos(1_000_000);
            }
            return new KafkaProbe.Result(events / ((System.nanoTime() - start) / 1e9), violations.sum());
        }
    }

    /**
     * Waits until each container's consumers hold all their topic's partitions, so that the clock starts, as in
     * Keel's rounds, with the consumers running and not with their group join.
     */
    private static void awaitAssigned(Collection<? extends MessageListenerContainer> containers) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        for (MessageListenerContainer c : containers) {
            while (c.getAssignedPartitions() == null
                    || c.getAssignedPartitions().size() < KafkaProbe.PARTITIONS) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the listener containers were not assigned their partitions");
                }
                LockSupport.parkNanos(10_000_000);
            }
        }
    }

    /** The container with blocking retries; {@code failTimes} 0 for the plain throughput run. */
    static KafkaProbe.Result blocking(String bootstrap, String topic, int events, int failTimes) throws Exception {
        Counters counters = new Counters(failTimes);
        ContainerProperties props = new ContainerProperties(topic);
        props.setGroupId(topic + "-spring");
        props.setAckMode(ContainerProperties.AckMode.BATCH);
        props.setMessageListener((MessageListener<String, String>) counters::handle);
        ConcurrentMessageListenerContainer<String, String> container = new ConcurrentMessageListenerContainer<>(
                new DefaultKafkaConsumerFactory<>(PlainConsumerPeer.consumerConfig(bootstrap, topic + "-spring")),
                props);
        container.setConcurrency(KafkaProbe.PARTITIONS);
        container.setCommonErrorHandler(new DefaultErrorHandler(new FixedBackOff(10, 2)));
        container.start();
        awaitAssigned(List.of(container));
        long start = System.nanoTime();
        Thread producer = PlainConsumerPeer.produce(bootstrap, topic, events);
        try {
            return counters.await(start, events);
        } finally {
            producer.join();
            container.stop();
        }
    }

    /** The listener, on the main topic and Spring's retry topics. */
    static final class Listener {
        private final Counters counters;

        Listener(Counters counters) {
            this.counters = counters;
        }

        @KafkaListener(topics = "${peer.topic}", groupId = "${peer.topic}-retry-topics")
        void on(ConsumerRecord<String, String> r) {
            counters.handle(r);
        }
    }

    /** Spring's beans for non-blocking retries, as a Spring application declares them. */
    @Configuration
    @EnableKafka
    @EnableKafkaRetryTopic
    static class RetryTopicsConfig {
        @Bean
        ConsumerFactory<String, String> consumerFactory() {
            return new DefaultKafkaConsumerFactory<>(PlainConsumerPeer.consumerConfig(
                    System.getProperty("peer.bootstrap"), System.getProperty("peer.topic") + "-retry-topics"));
        }

        @Bean
        ProducerFactory<String, String> producerFactory() {
            return new DefaultKafkaProducerFactory<>(
                    PlainConsumerPeer.producerConfig(System.getProperty("peer.bootstrap")));
        }

        @Bean
        KafkaTemplate<String, String> kafkaTemplate(ProducerFactory<String, String> pf) {
            return new KafkaTemplate<>(pf);
        }

        @Bean
        KafkaAdmin kafkaAdmin() {
            return new KafkaAdmin(Map.of("bootstrap.servers", System.getProperty("peer.bootstrap")));
        }

        @Bean
        ConcurrentKafkaListenerContainerFactory<String, String> kafkaListenerContainerFactory(
                ConsumerFactory<String, String> cf) {
            ConcurrentKafkaListenerContainerFactory<String, String> f = new ConcurrentKafkaListenerContainerFactory<>();
            f.setConsumerFactory(cf);
            f.setConcurrency(KafkaProbe.PARTITIONS);
            f.getContainerProperties().setAckMode(ContainerProperties.AckMode.BATCH);
            return f;
        }

        @Bean
        ThreadPoolTaskScheduler taskScheduler() {
            ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();
            scheduler.setPoolSize(2);
            return scheduler;
        }

        @Bean
        RetryTopicConfiguration retryTopics(KafkaTemplate<String, String> template) {
            return RetryTopicConfigurationBuilder.newInstance()
                    .fixedBackOff(10)
                    .maxAttempts(3)
                    .autoCreateTopicsWith(KafkaProbe.PARTITIONS, (short) 1)
                    .includeTopic(System.getProperty("peer.topic"))
                    .create(template);
        }
    }

    /** Non-blocking retries through retry topics. */
    static KafkaProbe.Result retryTopics(String bootstrap, String topic, int events) throws Exception {
        System.setProperty("peer.bootstrap", bootstrap);
        System.setProperty("peer.topic", topic);
        Counters counters = new Counters(2);
        AnnotationConfigApplicationContext ctx = new AnnotationConfigApplicationContext();
        ctx.registerBean(Counters.class, () -> counters);
        ctx.registerBean(Listener.class, () -> new Listener(counters));
        ctx.register(RetryTopicsConfig.class);
        ctx.refresh();
        awaitAssigned(ctx.getBean(KafkaListenerEndpointRegistry.class).getListenerContainers());
        long start = System.nanoTime();
        Thread producer = PlainConsumerPeer.produce(bootstrap, topic, events);
        try {
            return counters.await(start, events);
        } finally {
            producer.join();
            ctx.close();
        }
    }
}
