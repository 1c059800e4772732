package dev.keel.bench;

import com.zaxxer.hikari.HikariDataSource;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.jobrunr.configuration.JobRunr;
import org.jobrunr.scheduling.JobScheduler;
import org.jobrunr.server.BackgroundJobServerConfiguration;
import org.jobrunr.storage.sql.common.SqlStorageProviderFactory;

/** JobRunr doing the same work as Keel's durable probe: enqueue N jobs, execute each once. */
public final class JobRunrPeer {
    private static final LongAdder EXECUTED = new LongAdder();

    private JobRunrPeer() {}

    /** The job: JobRunr calls it by name from its stored job details, so it is public and static. */
    public static void work(int n) {
        EXECUTED.increment();
    }

    static void run(String url, boolean postgres, int jobs) {
        EXECUTED.reset();
        HikariDataSource ds = PeerDataSource.create(url, postgres);
        try {
            JobScheduler scheduler = JobRunr.configure()
                    .useStorageProvider(SqlStorageProviderFactory.using(ds))
                    .useBackgroundJobServer(
                            BackgroundJobServerConfiguration.usingStandardBackgroundJobServerConfiguration()
                                    .andWorkerCount(8)
                                    .andPollInterval(Duration.ofSeconds(5)))
                    .initialize()
                    .getJobScheduler();
            long start = System.nanoTime();
            for (int i = 0; i < jobs; i++) {
                int n = i;
                scheduler.enqueue(() -> work(n));
            }
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (EXECUTED.sum() < jobs && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(
                    "JobRunr 8.1: %,d of %,d jobs enqueued and executed in %.2f s: %,.0f jobs/s%n",
                    EXECUTED.sum(), jobs, seconds, EXECUTED.sum() / seconds);
        } finally {
            JobRunr.destroy(); // before its data source closes
            ds.close();
        }
    }
}
