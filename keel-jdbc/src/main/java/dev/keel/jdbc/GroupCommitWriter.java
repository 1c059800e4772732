package dev.keel.jdbc;

import dev.keel.spi.Append;
import dev.keel.spi.Commit;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.JournalException;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one thread that writes appends and, on a single-writer database, delivery outcomes: it takes every
 * request waiting, writes them in one transaction, and completes their futures after the commit. Under load
 * many emits and many lanes' cursor advances share one fsync; alone, a request waits for one transaction. When
 * a shared transaction fails, each request is tried again in its own, so one bad request fails only itself.
 */
final class GroupCommitWriter {
    private static final Logger log = LoggerFactory.getLogger(GroupCommitWriter.class);

    private sealed interface Request permits Appends, Outcome, Stop {}

    private record Appends(
            List<Append> appends,
            List<byte[]> envelopes,
            LinkedWrite linked,
            CompletableFuture<List<AppendResult>> done)
            implements Request {}

    private record Outcome(Commit commit, CompletableFuture<Void> done) implements Request {}

    private record Stop() implements Request {}

    private static final Stop STOP = new Stop();

    /** Appends of one request, with the write of another table they commit with, if any. */
    record Batch(List<Append> appends, List<byte[]> envelopes, LinkedWrite linked) {}

    /** What became of one batch: its results, or the refusal of its linked write (then nothing of it is stored). */
    record Written(List<AppendResult> results, RuntimeException refused) {}

    /** The transaction a group is written in. */
    interface Transaction {
        /**
         * Writes the batches (each linked write before its appends) and then the outcomes in one transaction;
         * returns what became of each batch, in order. Called by the writer thread only.
         */
        List<Written> write(List<Batch> batches, List<Commit> commits) throws SQLException;

        /** The database, for messages. */
        String describe();

        JournalException failure(String what, SQLException e);
    }

    /** Tries of a group that failed for a transient reason (a deadlock, a serialization failure). */
    private static final int TRANSIENT_TRIES = 3;

    private final Transaction journal;
    private final int maxBatch;
    private final LinkedBlockingQueue<Request> queue = new LinkedBlockingQueue<>();
    private final Thread thread;
    /**
     * Completes emits off the writer thread. Platform threads: an emit's waiter (an HTTP request, say) must
     * never depend on the carrier threads that deliveries run on.
     */
    private final ExecutorService completer = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "keel-journal-completer");
        t.setDaemon(true);
        return t;
    });

    private boolean stopping;
    private final java.util.concurrent.atomic.AtomicLong retriedAlone = new java.util.concurrent.atomic.AtomicLong();

    GroupCommitWriter(Transaction journal, int maxBatch) {
        this.journal = journal;
        this.maxBatch = maxBatch;
        this.thread = Thread.ofPlatform().daemon().name("keel-journal-writer").start(this::run);
    }

    CompletableFuture<List<AppendResult>> submit(List<Append> appends, List<byte[]> envelopes, LinkedWrite linked) {
        CompletableFuture<List<AppendResult>> done = new CompletableFuture<>();
        enqueue(new Appends(List.copyOf(appends), envelopes, linked, done), done);
        return done;
    }

    /** Queues delivery outcomes to be written with the next group; the future completes once they are durable. */
    CompletableFuture<Void> submit(Commit commit) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        enqueue(new Outcome(commit, done), done);
        return done;
    }

    private void enqueue(Request request, CompletableFuture<?> done) {
        synchronized (this) {
            if (stopping) {
                done.completeExceptionally(new JournalException("the journal " + journal.describe() + " is closing"));
                return;
            }
            queue.add(request);
        }
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
                int size = weight(first);
                Request more;
                while (size < maxBatch && (more = queue.peek()) != null && more != STOP) {
                    group.add(queue.poll());
                    size += weight(more);
                }
                writeGroup(group, false);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Throwable e) {
                // Whatever happens, the writer goes on: the group fails, later requests still get answers.
                JournalException failure = new JournalException("could not write to the journal: " + e, e);
                group.forEach(r -> fail(r, failure));
                log.error("journal writer failed unexpectedly; its requests were failed", e);
            } finally {
                group.clear();
            }
        }
    }

    private static int weight(Request r) {
        return switch (r) {
            case Appends a -> Math.max(1, a.appends().size());
            case Outcome o ->
                1 + o.commit().upserts().size() + o.commit().deadLetters().size();
            case Stop s -> 0;
        };
    }

    /**
     * Writes a group in one transaction.
     *
     * @param again whether this is a request written again on its own after its group failed
     */
    private void writeGroup(List<Request> group, boolean again) {
        List<Batch> batches = new ArrayList<>();
        List<Commit> commits = new ArrayList<>();
        for (Request r : group) {
            switch (r) {
                case Appends a -> batches.add(new Batch(a.appends(), a.envelopes(), a.linked()));
                case Outcome o -> commits.add(o.commit());
                case Stop s -> {}
            }
        }
        List<Written> results;
        try {
            results = writeRetryingTransient(batches, commits);
        } catch (SQLException | RuntimeException e) {
            if (group.size() > 1 && faultOfOneRequest(e)) {
                // The shared transaction rolled back over what one request holds (a constraint, a value, a
                // lease): each request on its own, so only the faulty one fails. Failures of the database
                // itself (unreachable, busy, full) fail the group at once instead of once per request.
                retriedAlone.addAndGet(group.size());
                for (Request r : group) {
                    writeGroup(List.of(r), true);
                }
                return;
            }
            if (!again && group.getFirst() instanceof Appends a && a.linked() != null && faultOfOneRequest(e)) {
                // A linked write that met a constraint (another instance appended to its stream, or applied its
                // command, after it checked): once more, and its check now sees what the other committed.
                retriedAlone.incrementAndGet();
                writeGroup(group, true);
                return;
            }
            group.forEach(r -> fail(r, failure(r, e)));
            return;
        }
        // Outcomes first, here: their only waiter is a lane worker blocked in commit(), which must not wait
        // behind emit callbacks.
        for (Request r : group) {
            if (r instanceof Outcome o) {
                o.done().complete(null);
            }
        }
        // Emits are completed on another thread: callbacks chained on an emit (even one that waits for another
        // emit) must never run on, or block, the writer.
        List<Request> done = List.copyOf(group);
        completer.execute(() -> {
            int at = 0;
            for (Request r : done) {
                if (r instanceof Appends a) {
                    Written w = results.get(at++);
                    if (w.refused() != null) {
                        a.done().completeExceptionally(w.refused());
                    } else {
                        a.done().complete(w.results());
                    }
                }
            }
        });
    }

    private List<Written> writeRetryingTransient(List<Batch> batches, List<Commit> commits) throws SQLException {
        for (int attempt = 1; ; attempt++) {
            try {
                return journal.write(batches, commits);
            } catch (SQLException e) {
                // Two instances' groups that meet on the same rows: the database aborts one; it goes again.
                if (attempt >= TRANSIENT_TRIES || !isTransient(e)) {
                    throw e;
                }
                log.debug("group write of {} aborted ({}); trying again", journal.describe(), e.getSQLState());
            }
        }
    }

    /**
     * A deadlock or a serialization failure: nothing was written, and the same transaction may succeed. So is a
     * unique violation on an event-sourced stream's rows: two instances appended the first events of one stream at
     * once (neither could lock a row that did not exist yet); tried again, the loser reads the winner's row and gets
     * a typed conflict.
     */
    static boolean isTransient(SQLException e) {
        for (SQLException x = e; x != null; x = x.getNextException()) {
            String state = x.getSQLState();
            if ("40P01".equals(state) || "40001".equals(state)) {
                return true;
            }
            if ("23505".equals(state) && String.valueOf(x.getMessage()).contains("keel_es_")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a failure belongs to one request of a group rather than to the database: a constraint or a bad
     * value (SQLState classes 23 and 22, SQLite's CONSTRAINT, TOOBIG and MISMATCH), a lost lease, an event that
     * cannot be encoded.
     */
    static boolean faultOfOneRequest(Exception e) {
        if (e instanceof SQLException sql) {
            String state = sql.getSQLState();
            int sqlite = sql.getErrorCode() & 0xff;
            return (state != null && (state.startsWith("23") || state.startsWith("22")))
                    || (sql instanceof org.sqlite.SQLiteException && (sqlite == 19 || sqlite == 18 || sqlite == 20));
        }
        return e instanceof dev.keel.spi.LeaseLostException || e instanceof JournalException;
    }

    /** How many requests were written again on their own after a shared transaction failed (for tests). */
    long retriedAlone() {
        return retriedAlone.get();
    }

    /** How many requests wait for the writer. */
    int backlog() {
        return queue.size();
    }

    private RuntimeException failure(Request r, Exception e) {
        if (e instanceof RuntimeException re && (e instanceof JournalException || !(r instanceof Appends))) {
            return re; // a lease lost, or a journal failure already described
        }
        String what =
                switch (r) {
                    case Appends a -> "store " + a.appends().size() + " events";
                    case Outcome o ->
                        "commit delivery outcomes of '" + o.commit().subscription() + "' on lane "
                                + o.commit().lane();
                    case Stop s -> "stop";
                };
        if (e instanceof SQLException sql) {
            JournalException failure = journal.failure(what, sql);
            // Written on its own by now (a group that met such a fault was split): the fault is this request's.
            return r instanceof Appends && faultOfOneRequest(sql)
                    ? new RequestFault(failure.getMessage(), sql)
                    : failure;
        }
        return new JournalException("could not " + what + ": " + e.getMessage(), e);
    }

    private static void fail(Request r, Throwable failure) {
        switch (r) {
            case Appends a -> a.done().completeExceptionally(failure);
            case Outcome o -> o.done().completeExceptionally(failure);
            case Stop s -> {}
        }
    }

    /**
     * Writes what is queued, then stops. Returns whether the writer stopped; if it is still busy after 10 s
     * (a database that does not answer), it is left to finish on its own and its state is not touched.
     */
    boolean close() {
        synchronized (this) {
            stopping = true;
            queue.add(STOP);
        }
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (thread.isAlive()) {
            log.warn("the journal writer of {} is still writing after 10 s; closing without it", journal.describe());
            return false;
        }
        Request left;
        JournalException closed = new JournalException("the journal " + journal.describe() + " closed");
        while ((left = queue.poll()) != null) {
            fail(left, closed);
        }
        completer.close();
        return true;
    }
}
