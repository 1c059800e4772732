package dev.keel.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.axonframework.commandhandling.AsynchronousCommandBus;
import org.axonframework.commandhandling.CommandHandler;
import org.axonframework.commandhandling.gateway.CommandGateway;
import org.axonframework.common.jdbc.DataSourceConnectionProvider;
import org.axonframework.common.jdbc.UnitOfWorkAwareConnectionProviderWrapper;
import org.axonframework.common.transaction.NoTransactionManager;
import org.axonframework.config.Configuration;
import org.axonframework.config.DefaultConfigurer;
import org.axonframework.eventsourcing.EventSourcingHandler;
import org.axonframework.eventsourcing.eventstore.jdbc.JdbcEventStorageEngine;
import org.axonframework.eventsourcing.eventstore.jdbc.PostgresEventTableFactory;
import org.axonframework.modelling.command.AggregateCreationPolicy;
import org.axonframework.modelling.command.AggregateIdentifier;
import org.axonframework.modelling.command.AggregateLifecycle;
import org.axonframework.modelling.command.CreationPolicy;
import org.axonframework.modelling.command.TargetAggregateIdentifier;
import org.axonframework.serialization.json.JacksonSerializer;

/**
 * The same account aggregate and deposit load on Axon Framework 4.13: an event-sourced aggregate with its
 * JDBC storage engine on the same PostgreSQL, an asynchronous command bus with 8 threads (the peer pool holds 10 connections), Jackson for
 * events. Axon's JDBC engine has no SQLite dialect, so this peer runs on PostgreSQL only.
 */
final class AxonPeer {
    private AxonPeer() {}

    /** A deposit to an account, created by its first deposit. */
    record AxonDeposit(@TargetAggregateIdentifier String accountId, long cents, String reference) {}

    /** A deposit was made. */
    record AxonDeposited(String accountId, long cents, String reference) {}

    /** The account: its balance and deposits. */
    public static class AxonAccount {
        @AggregateIdentifier
        private String accountId;

        private long cents;
        private long deposits;

        public AxonAccount() {}

        @CommandHandler
        @CreationPolicy(AggregateCreationPolicy.CREATE_IF_MISSING)
        public void handle(AxonDeposit deposit) {
            if (deposit.cents() <= 0) {
                throw new IllegalArgumentException("deposit a positive amount");
            }
            AggregateLifecycle.apply(new AxonDeposited(deposit.accountId(), deposit.cents(), deposit.reference()));
        }

        @EventSourcingHandler
        public void on(AxonDeposited deposited) {
            this.accountId = deposited.accountId();
            this.cents += deposited.cents();
            this.deposits++;
        }
    }

    /** Commands per second, median of five rounds after a warm-up, as the Keel probe's {@code commands}. */
    static double commands(String url, int commands, int accounts) throws Exception {
        try (HikariDataSource ds = PeerDataSource.create(url, true)) {
            ExecutorService bus = Executors.newFixedThreadPool(8);
            JacksonSerializer serializer = JacksonSerializer.defaultSerializer();
            JdbcEventStorageEngine engine = JdbcEventStorageEngine.builder()
                    .connectionProvider(
                            new UnitOfWorkAwareConnectionProviderWrapper(new DataSourceConnectionProvider(ds)))
                    .transactionManager(NoTransactionManager.INSTANCE)
                    .eventSerializer(serializer)
                    .snapshotSerializer(serializer)
                    .build();
            engine.createSchema(PostgresEventTableFactory.INSTANCE);
            Configuration config = DefaultConfigurer.defaultConfiguration()
                    .configureEmbeddedEventStore(c -> engine)
                    .configureSerializer(c -> serializer)
                    .configureCommandBus(c -> AsynchronousCommandBus.builder()
                            .executor(bus)
                            .transactionManager(NoTransactionManager.INSTANCE)
                            .build())
                    .configureAggregate(AxonAccount.class)
                    .buildConfiguration();
            config.start();
            try {
                CommandGateway gateway = config.commandGateway();
                Semaphore window = new Semaphore(4_000);
                AtomicLong failed = new AtomicLong();
                double[] rates = new double[5];
                for (int round = 0; round <= 5; round++) {
                    long start = System.nanoTime();
                    for (int i = 0; i < commands; i++) {
                        window.acquire();
                        gateway.send(new AxonDeposit("a-" + (i % accounts), 100, "r" + i))
                                .whenComplete((r, e) -> {
                                    if (e != null) {
                                        if (failed.incrementAndGet() == 1) {
                                            e.printStackTrace();
                                        }
                                    }
                                    window.release();
                                });
                    }
                    window.acquire(4_000);
                    window.release(4_000);
                    double rate = commands / ((System.nanoTime() - start) / 1e9);
                    System.out.printf("  Axon %s round: %,.0f commands/s%n", round == 0 ? "warm-up" : "measured", rate);
                    if (round > 0) {
                        rates[round - 1] = rate;
                    }
                }
                if (failed.get() > 0) {
                    throw new IllegalStateException(failed.get() + " Axon commands failed");
                }
                Arrays.sort(rates);
                return rates[2];
            } finally {
                config.shutdown();
                bus.shutdown();
            }
        }
    }
}
