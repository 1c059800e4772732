package dev.keel.redis;

import dev.keel.spi.Append;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.JournalException;
import io.lettuce.core.RedisException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.sync.RedisCommands;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Group commit for Redis: appends from every thread queue here, and one thread ({@code keel-redis-appender}) sends
 * what has gathered as one script call, so a busy journal pays one round trip for many appends. Callers encode
 * their events before queueing, so the thread only sends. With replicas required, it waits for them after each
 * call ({@code WAIT}) before completing anything.
 *
 * <p>The thread owns the batch it builds and a connection of its own (so that {@code WAIT}, which blocks the
 * connection it is sent on, holds back nothing else); the queue is the hand-off, at most {@link #MAX_QUEUED}
 * appends long, and {@link #parked} tells a caller whether to wake it.
 */
final class Appender implements AutoCloseable {
    /** The most appends one call carries; more wait for the next. */
    static final int MAX_APPENDS = 2_000;
    /** The most envelope bytes one call carries (a larger single append goes alone). */
    static final int MAX_BYTES = 4 * 1024 * 1024;
    /** The most appends waiting to be sent: past it, an append fails at once instead of queueing. */
    static final int MAX_QUEUED = 100_000;

    /** One caller's batch, encoded. */
    private record Request(
            int[] lanes,
            byte[][] dedupKeys,
            long[] dedupUntil,
            byte[][] envelopes,
            String[] ids,
            int bytes,
            CompletableFuture<List<AppendResult>> done) {}

    private final RedisCommands<String, byte[]> redis;
    private final Scripts scripts;
    private final byte[] prefix;
    private final String where;
    private final int waitReplicas;
    private final Duration waitTimeout;
    private final LaneHeads heads;
    /** Told of each failed call, for the health check. */
    private final java.util.function.Consumer<RuntimeException> failures;

    private final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean parked = new AtomicBoolean();
    /** Appends queued and not yet taken by the thread. */
    private final java.util.concurrent.atomic.AtomicInteger queued = new java.util.concurrent.atomic.AtomicInteger();

    private final Thread thread;
    private volatile boolean closed;

    Appender(
            RedisCommands<String, byte[]> redis,
            Scripts scripts,
            String prefix,
            String where,
            int waitReplicas,
            Duration waitTimeout,
            LaneHeads heads,
            java.util.function.Consumer<RuntimeException> failures) {
        this.redis = redis;
        this.scripts = scripts;
        this.prefix = prefix.getBytes(StandardCharsets.UTF_8);
        this.where = where;
        this.waitReplicas = waitReplicas;
        this.waitTimeout = waitTimeout;
        this.heads = heads;
        this.failures = failures;
        this.thread = Thread.ofPlatform().name("keel-redis-appender").daemon().start(this::run);
    }

    /** Queues an encoded batch; the future completes once it is stored (and replicated, when required). */
    CompletableFuture<List<AppendResult>> append(List<Append> batch, EnvelopeCodec codec) {
        int n = batch.size();
        int[] lanes = new int[n];
        byte[][] keys = new byte[n][];
        long[] until = new long[n];
        byte[][] envelopes = new byte[n][];
        String[] ids = new String[n];
        int bytes = 0;
        for (int i = 0; i < n; i++) {
            Append a = batch.get(i);
            lanes[i] = a.lane();
            keys[i] = a.dedupKey() == null ? EMPTY : DedupKeys.name(a.dedupKey());
            until[i] = a.dedupUntil() == null ? 0 : a.dedupUntil().toEpochMilli();
            envelopes[i] = codec.write(a.event());
            ids[i] = a.event().id();
            bytes += envelopes[i].length;
        }
        CompletableFuture<List<AppendResult>> done = new CompletableFuture<>();
        if (closed) {
            done.completeExceptionally(new JournalException("the Redis journal is closed; nothing was appended"));
            return done;
        }
        if (queued.addAndGet(n) > MAX_QUEUED) {
            queued.addAndGet(-n);
            done.completeExceptionally(new JournalException("Redis at " + where + " is not keeping up: over "
                    + MAX_QUEUED + " appends wait to be sent; nothing was appended, try again shortly"));
            return done;
        }
        Request request = new Request(lanes, keys, until, envelopes, ids, bytes, done);
        queue.add(request);
        if (closed && queue.remove(request)) {
            // Closed while it was added: the thread may have drained the queue already.
            queued.addAndGet(-n);
            done.completeExceptionally(new JournalException("the Redis journal is closed; nothing was appended"));
            return done;
        }
        if (parked.get()) {
            LockSupport.unpark(thread);
        }
        return done;
    }

    private static final byte[] EMPTY = new byte[0];

    private void run() {
        List<Request> taken = new ArrayList<>();
        while (true) {
            Request first = queue.poll();
            if (first == null) {
                if (closed) {
                    return;
                }
                parked.set(true);
                if (queue.isEmpty() && !closed) {
                    LockSupport.parkNanos(50_000_000L);
                }
                parked.set(false);
                continue;
            }
            taken.clear();
            taken.add(first);
            int appends = first.ids.length;
            int bytes = first.bytes;
            Request next;
            while ((next = queue.peek()) != null
                    && appends + next.ids.length <= MAX_APPENDS
                    && bytes + next.bytes <= MAX_BYTES) {
                taken.add(queue.poll());
                appends += next.ids.length;
                bytes += next.bytes;
            }
            queued.addAndGet(-appends);
            try {
                send(taken, appends);
            } catch (Throwable e) {
                // Nothing may end this thread but close: whatever went wrong fails this batch's appends only.
                fail(taken, new JournalException("appending to Redis at " + where + " failed: " + e, e));
                if (e instanceof VirtualMachineError vme) {
                    throw vme;
                }
            }
        }
    }

    private void send(List<Request> taken, int appends) {
        byte[][] args = new byte[2 + appends * 5][];
        args[0] = prefix;
        args[1] = Bytes.of(appends);
        int a = 2;
        for (Request r : taken) {
            for (int i = 0; i < r.ids.length; i++) {
                args[a++] = Bytes.of(r.lanes[i]);
                args[a++] = r.dedupKeys[i];
                args[a++] = Bytes.of(r.dedupUntil[i]);
                args[a++] = r.envelopes[i];
                args[a++] = r.ids[i].getBytes(StandardCharsets.UTF_8);
            }
        }
        List<Object> out;
        try {
            out = scripts.run(Scripts.Script.APPEND, ScriptOutputType.MULTI, args);
            if (waitReplicas > 0) {
                // On this thread's own connection: WAIT blocks the connection it is sent on.
                long acknowledged = redis.waitForReplication(waitReplicas, waitTimeout.toMillis());
                if (acknowledged < waitReplicas) {
                    fail(
                            taken,
                            new JournalException("the append is stored on the Redis primary at " + where
                                    + " but only " + acknowledged + " of the " + waitReplicas
                                    + " replicas required confirmed it within " + waitTimeout.toMillis()
                                    + " ms, so a failover now could lose it; emitting it again with the same"
                                    + " dedup key is safe"));
                    return;
                }
            }
        } catch (RedisException e) {
            failures.accept(e);
            String m = String.valueOf(e.getMessage());
            if (m.startsWith("KEEL_FOREIGN")) {
                fail(
                        taken,
                        new JournalException(
                                "Redis at " + where + ": " + m.substring("KEEL_FOREIGN ".length())
                                        + ", an entry Keel did not write; nothing was appended. Remove it (XDEL) and keep"
                                        + " other writers out of Keel's prefix",
                                e));
                return;
            }
            fail(
                    taken,
                    new JournalException(
                            "appending to Redis at " + where + " failed: " + e.getMessage()
                                    + (e.getMessage() != null && e.getMessage().contains("Timeout")
                                            ? " (a timed-out append may still have been stored: emit it again"
                                                    + " with a dedup key to be sure it is stored once)"
                                            : ""),
                            e));
            return;
        } catch (RuntimeException e) {
            fail(taken, new JournalException("appending to Redis at " + where + " failed: " + e, e));
            return;
        }
        int o = 0;
        for (Request r : taken) {
            List<AppendResult> results = new ArrayList<>(r.ids.length);
            for (int i = 0; i < r.ids.length; i++) {
                Object v = out.get(o++);
                if (v instanceof Long seq) {
                    heads.appended(r.lanes[i], seq);
                    results.add(new AppendResult(r.lanes[i], seq, r.ids[i], false));
                } else {
                    String[] earlier = new String((byte[]) v, StandardCharsets.UTF_8).split(" ", 3);
                    results.add(new AppendResult(
                            Integer.parseInt(earlier[0]), Long.parseLong(earlier[1]), earlier[2], true));
                }
            }
            r.done.complete(results);
        }
    }

    private static void fail(List<Request> taken, JournalException e) {
        for (Request r : taken) {
            r.done.completeExceptionally(e);
        }
    }

    /** Sends what is queued, then stops the thread; appends queued afterwards fail. */
    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Request r;
        while ((r = queue.poll()) != null) {
            r.done.completeExceptionally(new JournalException("the Redis journal closed before this append was sent"));
        }
    }
}
