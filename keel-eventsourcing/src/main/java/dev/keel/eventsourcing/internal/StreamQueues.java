package dev.keel.eventsourcing.internal;

import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;

/**
 * Runs the work given for one stream in the order given, one piece at a time, and the work of different
 * streams in parallel. A stream's queue exists while it has work: its presence in the map means a runner is
 * on it. The queues are only read and changed inside the map's {@code compute} calls, which hold the entry.
 *
 * @param <W> a piece of work
 */
public final class StreamQueues<W> {
    private final ConcurrentHashMap<String, ArrayDeque<W>> queues = new ConcurrentHashMap<>();
    private final Executor runners;
    private final Consumer<W> run;
    private final Consumer<W> refused;

    /**
     * @param runners where each stream's runner runs (virtual threads: the work blocks on the database)
     * @param run does one piece of work; must not throw (a throw is caught and the runner goes on)
     * @param refused is given the work of a stream whose runner could not start (the runners shut down)
     */
    public StreamQueues(Executor runners, Consumer<W> run, Consumer<W> refused) {
        this.runners = runners;
        this.run = run;
        this.refused = refused;
    }

    /** Queues work for the stream; starts a runner when none is on it. */
    public void submit(String stream, W work) {
        boolean[] start = new boolean[1];
        queues.compute(stream, (k, q) -> {
            if (q == null) {
                q = new ArrayDeque<>();
                start[0] = true;
            }
            q.add(work);
            return q;
        });
        if (start[0]) {
            start(stream);
        }
    }

    private void start(String stream) {
        try {
            runners.execute(() -> drain(stream));
        } catch (RejectedExecutionException e) {
            // No runner will come: the stream's work (this and any queued behind it meanwhile) is refused.
            ArrayDeque<W> left = queues.remove(stream);
            if (left != null) {
                left.forEach(refused);
            }
        }
    }

    /** Streams with work queued or running. */
    public int busy() {
        return queues.size();
    }

    private void drain(String stream) {
        // The head stays in its queue while it runs, so a submit meanwhile finds the queue and starts no second
        // runner; it is removed once done, and the queue with it when nothing followed.
        W work = head(stream);
        while (work != null) {
            try {
                run.accept(work);
            } catch (RuntimeException e) {
                // run reports its own failures; the stream's later work goes on
            } catch (Error e) {
                // This runner dies with the error; another takes over the stream's later work.
                if (done(stream) != null) {
                    start(stream);
                }
                throw e;
            }
            work = done(stream);
        }
    }

    private W head(String stream) {
        Object[] head = new Object[1];
        queues.computeIfPresent(stream, (k, q) -> {
            head[0] = q.peek();
            return q;
        });
        @SuppressWarnings("unchecked")
        W w = (W) head[0];
        return w;
    }

    /** Removes the finished head; returns the next work, or null when none followed (the queue is gone). */
    private W done(String stream) {
        Object[] next = new Object[1];
        queues.computeIfPresent(stream, (k, q) -> {
            q.poll();
            next[0] = q.peek();
            return next[0] == null ? null : q;
        });
        @SuppressWarnings("unchecked")
        W w = (W) next[0];
        return w;
    }
}
