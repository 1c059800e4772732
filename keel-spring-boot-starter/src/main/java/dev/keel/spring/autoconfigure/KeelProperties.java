package dev.keel.spring.autoconfigure;

import dev.keel.OrderingMode;
import java.time.Duration;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Keel's settings under {@code keel.*}. Each maps onto a setter of {@link dev.keel.Keel.Builder} or
 * {@link dev.keel.jdbc.JdbcJournal.Builder}, which checks it: a wrong value fails start-up with an
 * {@link InvalidKeelPropertyException} naming the property. docs/spring-boot.md lists them all.
 *
 * @param engine where events are kept: {@code jdbc} (the default: the application's database when it has a
 *     DataSource, else a SQLite file) or {@code memory} (nothing survives a restart; for tests)
 * @param jdbc the JDBC journal
 * @param lanes lanes, the unit of parallelism and per-key ordering; fixed by a durable journal at first use
 * @param source the CloudEvents source of events emitted by type and data
 * @param retention how long events every subscription has passed are kept before pruning
 * @param deadLetterRetention how long dead letters are kept; unset keeps them until deleted
 * @param deadLetterCapacity the dead letters the operator means to hold at most: health is degraded over half
 *     of it and down at it (nothing is dropped)
 * @param maxPayloadBytes the largest event data accepted, as JSON; 0 for no limit
 * @param maxDepth the longest causation chain (events emitted while handling events)
 * @param dedupWindow how long idempotency keys and producer ids are remembered
 * @param chainBudget the time a causation chain may take, from its root's emit; unset for no budget
 * @param maxReplays how often one dead letter may be reprocessed before it is treated as poison
 * @param leaseDuration how long a lane lease lasts when several instances share the journal (PostgreSQL)
 * @param logContext puts each delivery's event id, subscription, correlation id and trace id into the logging
 *     context (MDC) while its handler runs
 * @param intake backpressure on emits
 * @param retry the retry policy of every subscription that sets none of its own
 * @param timeout how long one delivery attempt may run, for subscriptions that set none
 * @param subscriptions per subscription name, settings that override the annotation's and the defaults
 * @param outbox the transactional outbox's relay
 * @param lifecycle start-up and shutdown
 */
@ConfigurationProperties("keel")
public record KeelProperties(
        @DefaultValue("jdbc") Engine engine,
        @DefaultValue Jdbc jdbc,
        @DefaultValue("8") int lanes,
        @DefaultValue("/keel") String source,
        @DefaultValue("0s") Duration retention,
        Duration deadLetterRetention,
        @DefaultValue("100000") long deadLetterCapacity,
        @DefaultValue("1MB") DataSize maxPayloadBytes,
        @DefaultValue("32") int maxDepth,
        @DefaultValue("24h") Duration dedupWindow,
        Duration chainBudget,
        @DefaultValue("5") int maxReplays,
        @DefaultValue("10s") Duration leaseDuration,
        @DefaultValue("true") boolean logContext,
        @DefaultValue Intake intake,
        @DefaultValue Retry retry,
        @DefaultValue("30s") Duration timeout,
        Map<String, SubscriptionSettings> subscriptions,
        @DefaultValue Outbox outbox,
        @DefaultValue Lifecycle lifecycle) {

    public KeelProperties {
        subscriptions = subscriptions == null ? Map.of() : Map.copyOf(subscriptions);
    }

    /** Where events are kept. */
    public enum Engine {
        /** A JDBC journal: SQLite or PostgreSQL. */
        JDBC,
        /** In memory: fast, and nothing survives a restart. For tests and throwaway work. */
        MEMORY
    }

    /**
     * The JDBC journal.
     *
     * @param url the journal's database, {@code jdbc:sqlite:<file>} or {@code jdbc:postgresql://...}; unset, Keel
     *     uses the application's DataSource's database when there is one (so emits join its transactions), else
     *     {@code jdbc:sqlite:./keel-data/keel.db}
     * @param username the database user (unset: the application DataSource's, when Keel shares its database)
     * @param password the database password (unset: the application DataSource's, when Keel shares its database)
     * @param useApplicationDatasource whether Keel keeps its tables in the application DataSource's database when
     *     {@code url} is unset: emits in a Spring transaction then commit with it (the transactional outbox)
     * @param poolSize connections in Keel's own pool (at least 3)
     * @param maxDatabaseBytes caps a SQLite journal's file size; 0 for no cap
     */
    public record Jdbc(
            String url,
            String username,
            String password,
            @DefaultValue("true") boolean useApplicationDatasource,
            @DefaultValue("8") int poolSize,
            @DefaultValue("0B") DataSize maxDatabaseBytes) {}

    /**
     * Backpressure on emits.
     *
     * @param highWaterMark when a lane holds this many undelivered events, emits to it wait; 0 turns it off
     * @param maxWait how long an emit waits for room before it fails with IntakeFullException
     */
    public record Intake(
            @DefaultValue("65536") long highWaterMark,
            @DefaultValue("5s") Duration maxWait) {}

    /**
     * A retry policy: exponential backoff with jitter.
     *
     * @param maxAttempts attempts in all, the first included; 1 dead-letters at the first failure
     * @param initialDelay the delay before the second attempt
     * @param multiplier how much each delay grows over the one before
     * @param maxDelay the longest delay between attempts
     * @param jitter the share of each delay drawn at random, from 0 to 1
     */
    public record Retry(
            @DefaultValue("5") int maxAttempts,
            @DefaultValue("1s") Duration initialDelay,
            @DefaultValue("2.0") double multiplier,
            @DefaultValue("5m") Duration maxDelay,
            @DefaultValue("0.2") double jitter) {}

    /**
     * A subscription's settings in properties, overriding those of its {@code @KeelListener}. Unset values keep
     * the annotation's (or the defaults).
     *
     * @param maxAttempts attempts in all, the first included
     * @param initialDelay the delay before the second attempt
     * @param maxDelay the longest delay between attempts
     * @param timeout how long one attempt may run
     * @param ordering {@code per-key} (events of one key in order, the default) or {@code strict} (one at a time
     *     per lane)
     * @param circuitBreaker whether deliveries go through a circuit breaker
     * @param enabled false leaves the subscription out: its handler is not registered
     */
    public record SubscriptionSettings(
            Integer maxAttempts,
            Duration initialDelay,
            Duration maxDelay,
            Duration timeout,
            OrderingMode ordering,
            Boolean circuitBreaker,
            @DefaultValue("true") boolean enabled) {}

    /**
     * The transactional outbox's relay, which moves events emitted inside application transactions into the
     * log once they commit.
     *
     * @param pollInterval how often the relay looks for committed events it was not told of
     */
    public record Outbox(@DefaultValue("200ms") Duration pollInterval) {}

    /**
     * Start-up and shutdown.
     *
     * @param autoStartup whether delivery starts with the application context; off, call {@code Keel.process()}
     *     or {@code Keel.start()} yourself
     * @param drainTimeout how long shutdown waits for deliveries under way after intake stops
     */
    public record Lifecycle(
            @DefaultValue("true") boolean autoStartup,
            @DefaultValue("30s") Duration drainTimeout) {}
}
