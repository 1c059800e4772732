package dev.keel.kafka;

import dev.keel.spi.Journal;
import dev.keel.test.JournalContract;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

class KafkaJournalContractTest extends JournalContract {
    private static final AtomicInteger TOPICS = new AtomicInteger();
    private static KafkaBroker broker;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = KafkaBroker.start();
    }

    @AfterAll
    static void stopBroker() throws Exception {
        broker.close();
    }

    private String topic;

    @Override
    protected Journal newJournal() {
        topic = "contract-" + TOPICS.incrementAndGet();
        return journal(topic);
    }

    /** Another runtime's journal on the same topics, as another instance of a service opens it. */
    @Override
    protected Journal sameStore() {
        return journal(topic);
    }

    private static KafkaJournal journal(String topic) {
        return KafkaJournal.builder()
                .bootstrapServers(broker.bootstrapServers())
                .topic(topic)
                .replicationFactor(1)
                .build();
    }
}
