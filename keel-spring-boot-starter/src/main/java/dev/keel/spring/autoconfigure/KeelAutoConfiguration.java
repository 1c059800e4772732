package dev.keel.spring.autoconfigure;

import com.zaxxer.hikari.HikariDataSource;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.jdbc.JdbcOutbox;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Journal;
import dev.keel.spring.KeelEvents;
import dev.keel.spring.KeelListener;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import java.nio.file.Path;
import java.time.Clock;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.sql.init.dependency.DependsOnDatabaseInitialization;
import org.springframework.context.annotation.Bean;
import org.springframework.transaction.PlatformTransactionManager;

/**
 * Keel in a Spring Boot application: a {@link Keel} runtime built from {@code keel.*} properties, its journal
 * (the application's database, a SQLite file, or memory), the transactional outbox when Keel shares the
 * application's database, {@link KeelEvents} to emit with, the {@link KeelListener} methods registered as
 * subscriptions, and start and shutdown tied to the context's lifecycle. Every bean here backs off when the
 * application defines its own.
 */
@AutoConfiguration(
        afterName = {
            "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
            "org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
            "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
            "org.springframework.boot.opentelemetry.autoconfigure.OpenTelemetrySdkAutoConfiguration"
        })
@EnableConfigurationProperties(KeelProperties.class)
public class KeelAutoConfiguration {
    /** The SQLite file used when Keel has no URL and the application no DataSource. */
    public static final String DEFAULT_SQLITE_URL = "jdbc:sqlite:./keel-data/keel.db";

    /**
     * The name of a {@link Clock} bean Keel uses for event times, due times and dedup windows instead of the system
     * clock (the test support defines one: a {@code TestClock}). Other Clock beans are left alone.
     */
    public static final String CLOCK = "keelClock";

    /**
     * The journal. Keel opens and closes it (so no destroy method here). With {@code keel.engine=jdbc} and no
     * {@code keel.jdbc.url}, it lives in the application DataSource's database, its tables beside the
     * application's, so that emits inside the application's transactions commit with them.
     */
    @Bean(destroyMethod = "")
    @ConditionalOnMissingBean({Journal.class, Keel.class})
    public Journal keelJournal(
            KeelProperties properties,
            ObjectProvider<DataSource> dataSource,
            @Qualifier(CLOCK) ObjectProvider<Clock> clocks) {
        if (properties.engine() == KeelProperties.Engine.MEMORY) {
            return new MemoryJournal(clocks.getIfUnique(Clock::systemUTC));
        }
        KeelProperties.Jdbc jdbc = properties.jdbc();
        JdbcJournal.Builder b = JdbcJournal.builder();
        DataSource shared = sharedDataSource(properties, dataSource);
        if (shared != null) {
            DatabaseAddress address = DatabaseAddress.of(shared);
            try {
                b.url(
                        address.url(),
                        jdbc.username() != null ? jdbc.username() : address.username(),
                        jdbc.password() != null ? jdbc.password() : address.password());
            } catch (IllegalArgumentException e) {
                throw new InvalidKeelPropertyException(
                        "spring.datasource.url",
                        address.url(),
                        "Keel keeps its tables in the application's database by default, and its journal runs on"
                                + " SQLite or PostgreSQL (" + e.getMessage() + "); set keel.jdbc.url to a database"
                                + " of Keel's own, or keel.jdbc.use-application-datasource=false for a SQLite file",
                        e);
            }
            b.shareDatabase();
        } else {
            String url = jdbc.url() != null ? jdbc.url() : DEFAULT_SQLITE_URL;
            if (url.equals(DEFAULT_SQLITE_URL)) {
                b.sqlite(Path.of("keel-data", "keel.db"));
            } else {
                PropertyApplier.apply("keel.jdbc.url", url, () -> b.url(url, jdbc.username(), jdbc.password()));
            }
        }
        PropertyApplier.apply("keel.jdbc.pool-size", jdbc.poolSize(), () -> b.poolSize(jdbc.poolSize()));
        long maxBytes = jdbc.maxDatabaseBytes().toBytes();
        PropertyApplier.apply(
                "keel.jdbc.max-database-bytes", jdbc.maxDatabaseBytes(), () -> b.maxDatabaseBytes(maxBytes));
        Clock clock = clocks.getIfUnique();
        if (clock != null) {
            b.clock(clock);
        }
        return b.build();
    }

    /** The application's DataSource when Keel keeps its tables in its database; null when it does not. */
    static DataSource sharedDataSource(KeelProperties properties, ObjectProvider<DataSource> dataSource) {
        if (properties.engine() != KeelProperties.Engine.JDBC
                || properties.jdbc().url() != null
                || !properties.jdbc().useApplicationDatasource()) {
            return null;
        }
        DataSource unique = dataSource.getIfUnique();
        if (unique == null && dataSource.stream().findAny().isPresent()) {
            // Falling back to a local file here would put acknowledged events where a redeploy may lose them.
            throw new InvalidKeelPropertyException(
                    "keel.jdbc.url",
                    null,
                    "the application has several DataSources and none is @Primary, so Keel cannot tell which"
                            + " database to share; mark one @Primary, or set keel.jdbc.url (and keel.jdbc.username,"
                            + " keel.jdbc.password) to the database Keel should use",
                    null);
        }
        return unique;
    }

    /** The runtime, built from the properties and then every {@link KeelBuilderCustomizer}. */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @DependsOnDatabaseInitialization
    public Keel keel(
            KeelProperties p,
            Journal journal,
            ObjectProvider<MeterRegistry> meters,
            ObjectProvider<OpenTelemetry> openTelemetry,
            @Qualifier(CLOCK) ObjectProvider<Clock> clocks,
            ObjectProvider<KeelBuilderCustomizer> customizers) {
        Keel.Builder b = Keel.builder().journal(journal);
        PropertyApplier.apply("keel.lanes", p.lanes(), () -> b.lanes(p.lanes()));
        PropertyApplier.apply("keel.source", p.source(), () -> b.source(p.source()));
        PropertyApplier.apply("keel.retention", p.retention(), () -> b.retention(p.retention()));
        if (p.deadLetterRetention() != null) {
            PropertyApplier.apply(
                    "keel.dead-letter-retention",
                    p.deadLetterRetention(),
                    () -> b.deadLetterRetention(p.deadLetterRetention()));
        }
        PropertyApplier.apply(
                "keel.dead-letter-capacity",
                p.deadLetterCapacity(),
                () -> b.deadLetterCapacity(p.deadLetterCapacity()));
        PropertyApplier.apply(
                "keel.max-payload-bytes",
                p.maxPayloadBytes(),
                () -> b.maxPayloadBytes(p.maxPayloadBytes().toBytes()));
        PropertyApplier.apply("keel.max-depth", p.maxDepth(), () -> b.maxDepth(p.maxDepth()));
        PropertyApplier.apply("keel.dedup-window", p.dedupWindow(), () -> b.dedupWindow(p.dedupWindow()));
        if (p.chainBudget() != null) {
            PropertyApplier.apply("keel.chain-budget", p.chainBudget(), () -> b.chainBudget(p.chainBudget()));
        }
        PropertyApplier.apply("keel.max-replays", p.maxReplays(), () -> b.maxReplays(p.maxReplays()));
        PropertyApplier.apply("keel.lease-duration", p.leaseDuration(), () -> b.leaseDuration(p.leaseDuration()));
        PropertyApplier.apply(
                "keel.intake.high-water-mark",
                p.intake().highWaterMark(),
                () -> b.intake(p.intake().highWaterMark(), p.intake().maxWait()));
        b.logContext(p.logContext());
        MeterRegistry registry = meters.getIfUnique();
        if (registry != null) {
            b.meterRegistry(registry);
        }
        OpenTelemetry otel = openTelemetry.getIfUnique();
        if (otel != null) {
            b.openTelemetry(otel);
        }
        Clock clock = clocks.getIfUnique();
        if (clock != null) {
            b.clock(clock);
        }
        customizers.orderedStream().forEach(c -> c.customize(b));
        return b.build();
    }

    /** The default retry policy of listeners, from {@code keel.retry.*}. */
    @Bean
    @ConditionalOnMissingBean
    public RetryPolicy keelRetryPolicy(KeelProperties p) {
        KeelProperties.Retry r = p.retry();
        RetryPolicy.Builder b = RetryPolicy.builder();
        PropertyApplier.apply("keel.retry.max-attempts", r.maxAttempts(), () -> b.maxAttempts(r.maxAttempts()));
        PropertyApplier.apply("keel.retry.initial-delay", r.initialDelay(), () -> b.initialDelay(r.initialDelay()));
        PropertyApplier.apply("keel.retry.multiplier", r.multiplier(), () -> b.multiplier(r.multiplier()));
        PropertyApplier.apply("keel.retry.max-delay", r.maxDelay(), () -> b.maxDelay(r.maxDelay()));
        PropertyApplier.apply("keel.retry.jitter", r.jitter(), () -> b.jitter(r.jitter()));
        return PropertyApplier.build("keel.retry", r, b::build);
    }

    /**
     * The transactional outbox, when Keel keeps its tables in the application's database: events emitted in a
     * Spring transaction are written there and commit with it; the relay moves them into the log.
     */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    @ConditionalOnBean(DataSource.class)
    public KeelOutbox keelOutbox(
            KeelProperties properties,
            ObjectProvider<DataSource> dataSource,
            ObjectProvider<Journal> journal,
            Keel keel) {
        DataSource shared = sharedDataSource(properties, dataSource);
        // No Journal bean: the application built its own Keel, on a journal of its choosing.
        if (shared == null || !(journal.getIfUnique() instanceof JdbcJournal jdbc)) {
            return KeelOutbox.none();
        }
        JdbcOutbox outbox = jdbc.outbox(keel, properties.outbox().pollInterval());
        return new KeelOutbox(shared, outbox);
    }

    /** What the application emits with: joins its transactions (see {@link KeelEvents}). */
    @Bean
    @ConditionalOnMissingBean
    public KeelEvents keelEvents(Keel keel, ObjectProvider<KeelOutbox> outbox) {
        return new KeelEvents(keel, outbox.getIfAvailable(KeelOutbox::none));
    }

    /** Starts delivery with the context and drains it at shutdown, in the phase described there. */
    @Bean
    @ConditionalOnMissingBean
    public KeelLifecycle keelLifecycle(Keel keel, ObjectProvider<KeelOutbox> outbox, KeelProperties properties) {
        return new KeelLifecycle(keel, outbox.getIfAvailable(KeelOutbox::none), properties.lifecycle());
    }

    /** Finds the {@link KeelListener} methods of every bean and subscribes them. */
    @Bean
    public static KeelListenerRegistrar keelListenerRegistrar(
            ObjectProvider<Keel> keel,
            ObjectProvider<KeelProperties> properties,
            ObjectProvider<RetryPolicy> retry,
            ObjectProvider<Journal> journal,
            ObjectProvider<KeelOutbox> outbox,
            ObjectProvider<PlatformTransactionManager> transactions) {
        return new KeelListenerRegistrar(keel, properties, retry, journal, outbox, transactions);
    }

    /** Where the application's DataSource points: Keel opens its own pool to the same database. */
    record DatabaseAddress(String url, String username, String password) {
        static DatabaseAddress of(DataSource ds) {
            HikariDataSource hikari = unwrap(ds);
            if (hikari == null || hikari.getJdbcUrl() == null) {
                throw new InvalidKeelPropertyException(
                        "keel.jdbc.url",
                        null,
                        "Keel shares the application's database by default, but its DataSource ("
                                + ds.getClass().getName() + ") does not say its JDBC URL; set keel.jdbc.url"
                                + " (and keel.jdbc.username, keel.jdbc.password) to the same database, or set"
                                + " keel.jdbc.use-application-datasource=false for a journal of its own",
                        null);
            }
            String url = hikari.getJdbcUrl();
            if (url.startsWith("jdbc:sqlite:") && url.indexOf('?') > 0) {
                // Keel sets its own SQLite pragmas on its connections.
                url = url.substring(0, url.indexOf('?'));
            }
            return new DatabaseAddress(url, hikari.getUsername(), hikari.getPassword());
        }

        private static HikariDataSource unwrap(DataSource ds) {
            if (ds instanceof HikariDataSource h) {
                return h;
            }
            try {
                return ds.isWrapperFor(HikariDataSource.class) ? ds.unwrap(HikariDataSource.class) : null;
            } catch (java.sql.SQLException e) {
                return null;
            }
        }
    }
}
