package dev.keel.bench;

import com.github.kagkarlsson.scheduler.Scheduler;
import com.github.kagkarlsson.scheduler.task.helper.OneTimeTask;
import com.github.kagkarlsson.scheduler.task.helper.Tasks;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/** db-scheduler doing the same work as Keel's durable probe: enqueue N one-time jobs, execute each once. */
final class DbSchedulerPeer {
    private DbSchedulerPeer() {}

    /** The table db-scheduler stores its executions in (its documented column set). */
    private static String table(boolean postgres) {
        String time = postgres ? "TIMESTAMP WITH TIME ZONE" : "TIMESTAMP";
        return "CREATE TABLE IF NOT EXISTS scheduled_tasks (task_name TEXT NOT NULL, task_instance TEXT NOT NULL,"
                + " task_data " + (postgres ? "BYTEA" : "BLOB") + ", execution_time " + time
                + ", picked BOOLEAN NOT NULL,"
                + " picked_by TEXT, last_success " + time + ", last_failure " + time + ", consecutive_failures INT,"
                + " last_heartbeat " + time + ", version BIGINT NOT NULL, priority SMALLINT, state TEXT,"
                + " PRIMARY KEY (task_name, task_instance))";
    }

    static void run(String url, boolean postgres, int jobs) throws Exception {
        try (HikariDataSource ds = PeerDataSource.create(url, postgres)) {
            try (Connection c = ds.getConnection();
                    Statement s = c.createStatement()) {
                s.execute(table(postgres));
                s.execute("CREATE INDEX IF NOT EXISTS execution_time_idx ON scheduled_tasks (execution_time)");
            }
            LongAdder executed = new LongAdder();
            OneTimeTask<Integer> task =
                    Tasks.oneTime("bench", Integer.class).execute((instance, ctx) -> executed.increment());
            Scheduler scheduler = Scheduler.create(ds, task)
                    .threads(8)
                    .pollingInterval(Duration.ofMillis(50))
                    .build();
            scheduler.start();
            long start = System.nanoTime();
            Instant now = Instant.now();
            for (int i = 0; i < jobs; i++) {
                scheduler.schedule(task.instance("job-" + i, i), now);
            }
            long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
            while (executed.sum() < jobs && System.nanoTime() < deadline) {
                LockSupport.parkNanos(1_000_000);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(
                    "db-scheduler 16.12: %,d of %,d jobs enqueued and executed in %.2f s: %,.0f jobs/s%n",
                    executed.sum(), jobs, seconds, executed.sum() / seconds);
            scheduler.stop();
        }
    }
}
