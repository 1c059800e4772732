package dev.keel.jdbc;

import dev.keel.spi.Append;
import dev.keel.spi.Journal.AppendResult;
import dev.keel.spi.JournalException;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one thread that writes appends: it takes every request waiting, writes them in one transaction, and
 * completes their futures after the commit. Under load many emits share one fsync; alone, an emit waits
 * for one transaction.
 */
final class GroupCommitWriter {
    private static final Logger log = LoggerFactory.getLogger(GroupCommitWriter.class);

    private record Request(List<Append> appends, List<byte[]> envelopes, CompletableFuture<List<AppendResult>> done) {}

    private static final Request STOP = new Request(List.of(), List.of(), null);

    private final JdbcJournal journal;
    private final int maxBatch;
    private final LinkedBlockingQueue<Request> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    private final java.util.concurrent.ExecutorService completer =
            java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor();
    private boolean stopping;

    GroupCommitWriter(JdbcJournal journal, int maxBatch) {
        this.journal = journal;
        this.maxBatch = maxBatch;
        this.thread = Thread.ofPlatform().daemon().name("keel-journal-writer").start(this::run);
    }

    CompletableFuture<List<AppendResult>> submit(List<Append> appends, List<byte[]> envelopes) {
        CompletableFuture<List<AppendResult>> done = new CompletableFuture<>();
        synchronized (this) {
            if (stopping) {
                done.completeExceptionally(new JournalException("the journal " + journal.describe() + " is closing"));
                return done;
            }
            queue.add(new Request(List.copyOf(appends), envelopes, done));
        }
        return done;
    }

    private void run() {
        List<Request> group = new ArrayList<>();
        while (true) {
            try {
                Request first = queue.take();
                if (first == STOP) {
                    return;
                }
                group.add(first);
                int size = first.appends().size();
                Request more;
                while (size < maxBatch && (more = queue.peek()) != null && more != STOP) {
                    group.add(queue.poll());
                    size += more.appends().size();
                }
                writeGroup(group);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Throwable e) {
                // Whatever happens, the writer goes on: the group fails, later emits still get answers.
                JournalException failure = new JournalException("could not store events: " + e, e);
                group.forEach(r -> r.done().completeExceptionally(failure));
                log.error("journal writer failed unexpectedly; its requests were failed", e);
            } finally {
                group.clear();
            }
        }
    }

    private void writeGroup(List<Request> group) {
        List<Append> all = new ArrayList<>();
        List<byte[]> envelopes = new ArrayList<>();
        for (Request r : group) {
            all.addAll(r.appends());
            envelopes.addAll(r.envelopes());
        }
        List<AppendResult> results;
        try {
            results = journal.write(all, envelopes);
        } catch (SQLException e) {
            JournalException failure = journal.failure("store " + all.size() + " events", e);
            group.forEach(r -> r.done().completeExceptionally(failure));
            return;
        } catch (RuntimeException e) {
            JournalException failure = e instanceof JournalException je
                    ? je
                    : new JournalException("could not store " + all.size() + " events: " + e.getMessage(), e);
            group.forEach(r -> r.done().completeExceptionally(failure));
            return;
        }
        // Completed on another thread: callbacks chained on an emit (even one that waits for another emit)
        // must never run on, or block, the writer.
        List<Request> done = List.copyOf(group);
        completer.execute(() -> {
            int at = 0;
            for (Request r : done) {
                int n = r.appends().size();
                r.done().complete(results.subList(at, at + n));
                at += n;
            }
        });
    }

    /** Writes what is queued, then stops. */
    void close() {
        synchronized (this) {
            stopping = true;
            queue.add(STOP);
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Request left;
        while ((left = queue.poll()) != null) {
            if (left.done() != null) {
                left.done()
                        .completeExceptionally(new JournalException("the journal " + journal.describe() + " closed"));
            }
        }
        completer.close();
    }
}
