package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.LogAccess;
import dev.keel.TypePattern;
import dev.keel.spi.LogRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.jetty.util.IteratingCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server-Sent Events of the journal's events. One reader per lane tails the log (so a stream sees every
 * instance's events, whichever instance serves it) and hands each new event to a few fan-out threads, one
 * per core (up to 8), each owning a share of the streams. A fan-out thread queues the event on each of its streams
 * that wants it (a bounded queue: a client that falls too far behind is closed) and writes it with Jetty's
 * non-blocking output: a stream waits for its socket without holding a thread, and no thread wakes per
 * stream per event. A stream that resumes with {@code Last-Event-ID} first reads the journal from the
 * position its id names, on its request's thread, then joins the live tail, with no gap and no duplicate.
 */
final class EventStreams implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);
    private static final byte[] KEEPALIVE = ": keepalive\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ID = "id: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DATA = "\ndata: ".getBytes(StandardCharsets.US_ASCII);
    private static final int PAGE = 512;
    /** The most frames a fan-out thread takes at once, and a stream writes at once. */
    private static final int BATCH = 256;
    /** A stream's write takes no more frames once it holds this many bytes (so it holds at most one more). */
    private static final int WRITE_BYTES = 64 * 1024;
    /** How long a stream handed over may take to go async before it is taken for lost. */
    private static final Duration HAND_OVER = Duration.ofSeconds(30);
    /** The most frames the tail may hand a fan-out thread ahead of it. */
    private static final int INBOX = 4_096;

    private static final Duration HEAD_RECHECK = Duration.ofMillis(250);
    private static final Duration IDLE = Duration.ofMillis(200);

    /**
     * How streams behave.
     *
     * @param heartbeat how often an idle stream sends a comment, which keeps proxies from closing it and
     *     finds clients that are gone
     * @param buffer the most events one stream may have waiting; a client slower than that is closed
     * @param maxPerToken the most streams one token may hold open
     * @param poll how long the tail waits before looking again when it found nothing new, which is how late it
     *     may find an event another instance appended (besides how often the journal refreshes their heads);
     *     this process's appends wake it at once
     * @param reconnect the reconnection delay the stream asks browsers to use
     */
    record Settings(Duration heartbeat, int buffer, int maxPerToken, Duration poll, Duration reconnect) {
        static final Settings DEFAULT =
                new Settings(Duration.ofSeconds(15), 1_000, 100, Duration.ofMillis(20), Duration.ofSeconds(2));

        Settings {
            if (heartbeat.isNegative() || heartbeat.isZero()) {
                throw new IllegalArgumentException("the stream heartbeat must be positive but was " + heartbeat);
            }
            if (buffer < 1) {
                throw new IllegalArgumentException("the stream buffer must hold at least 1 event but was " + buffer);
            }
            if (maxPerToken < 1) {
                throw new IllegalArgumentException("streamsPerToken must be at least 1 but was " + maxPerToken);
            }
        }
    }

    private final dev.keel.Keel keel;
    private final LogAccess journal;
    private final int lanes;
    /** Per lane, the last sequence the tail has handed to the streams; pruning in this process waits for it. */
    private final java.util.concurrent.atomic.AtomicLongArray tailed;

    private LogAccess.Hold hold;
    private LogAccess.Watch watch;
    /** Per lane, its tail's thread while it waits for an append; null otherwise. */
    private final java.util.concurrent.atomic.AtomicReferenceArray<Thread> parked;

    private final ObjectMapper mapper;
    private final Settings settings;
    private final Set<Stream> streams = ConcurrentHashMap.newKeySet();
    private final Map<Object, AtomicInteger> perToken = new ConcurrentHashMap<>();
    private final Thread[] tails;
    private Thread heartbeat;
    private final FanOut[] fanOuts;
    private final AtomicInteger nextFanOut = new AtomicInteger();
    /** Counts streams joining, so an idle tail never skips past events a stream joining meanwhile needs. */
    private final AtomicInteger joins = new AtomicInteger();

    private volatile boolean closed;
    /** Whether the tails run; guarded by this. */
    private boolean started;

    private volatile String closing;

    EventStreams(dev.keel.Keel keel, ObjectMapper mapper, Settings settings) {
        this.keel = keel;
        this.journal = keel.logAccess();
        this.lanes = keel.lanes();
        this.tailed = new java.util.concurrent.atomic.AtomicLongArray(lanes);
        this.parked = new java.util.concurrent.atomic.AtomicReferenceArray<>(lanes);
        this.mapper = mapper;
        this.settings = settings;
        this.tails = new Thread[lanes];
        this.fanOuts = new FanOut[Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()))];
        for (int i = 0; i < fanOuts.length; i++) {
            fanOuts[i] = new FanOut(i);
        }
    }

    /** How many streams are open, of one tenant (every stream when null: open mode). */
    int open(String tenant) {
        if (tenant == null) {
            return streams.size();
        }
        int n = 0;
        for (Stream s : streams) {
            n += tenant.equals(s.tenant) ? 1 : 0;
        }
        return n;
    }

    /**
     * Opens one stream: answers its headers and what it resumes from the journal on the calling thread,
     * then hands it to a fan-out thread, which serves it until the client goes, falls too far behind, or
     * the server shuts down.
     *
     * @param token whose connection count it counts against (null in open mode)
     * @param tenant the only tenant whose events it carries; null for every tenant
     * @param from where to resume; null to start with the events appended from now on
     * @throws ProblemException 429 when the token holds too many streams (while shutting down, a stream
     *     opens with status 200 and only its {@code keel.shutdown} event, which browsers reconnect after)
     */
    void serve(io.javalin.http.Context ctx, Object token, String tenant, List<TypePattern> types, StreamPosition from)
            throws IOException {
        if (closing != null) {
            // Not a 503: browsers' EventSource gives up for good on an error status, but reconnects after a
            // stream that ends. So a stream that only says to come back, as every open stream was told.
            ctx.status(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            OutputStream out = ctx.res().getOutputStream();
            out.write(shutdown());
            out.flush();
            return;
        }
        Object key = token == null ? "open" : token;
        AtomicInteger held = perToken.computeIfAbsent(key, k -> new AtomicInteger());
        if (held.incrementAndGet() > settings.maxPerToken()) {
            held.decrementAndGet();
            ctx.header("Retry-After", "5");
            throw new ProblemException(
                    429,
                    "too-many-streams",
                    "Too many streams",
                    "this token holds " + settings.maxPerToken() + " open streams, the most allowed; close one first");
        }
        Stream s = new Stream(tenant, types, held);
        boolean handedOver = false;
        try {
            long[] at = new long[lanes];
            List<Map<String, Long>> resets = new java.util.ArrayList<>();
            boolean rechecked = false;
            for (int lane = 0; lane < lanes; lane++) {
                long head = journal.head(lane);
                at[lane] = from != null ? from.get(lane) : head;
                if (at[lane] > head && !rechecked) {
                    // A shared journal's heads are this instance's cached view, a moment old: look again first,
                    // so that a position another instance just wrote is not taken for one from elsewhere.
                    rechecked = true;
                    LockSupport.parkNanos(HEAD_RECHECK.toNanos());
                    head = journal.head(lane);
                }
                if (at[lane] > head) {
                    // A position this journal never reached (another deployment, a wiped store): start at its head.
                    resets.add(Map.of("lane", (long) lane, "from", at[lane], "to", head));
                    at[lane] = head;
                }
            }
            s.position = at;
            ctx.status(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            ctx.res().setHeader("Cache-Control", "no-cache");
            ctx.res().setHeader("X-Accel-Buffering", "no");
            OutputStream out = ctx.res().getOutputStream();
            out.write(("retry: " + settings.reconnect().toMillis() + "\n: stream open\n\n")
                    .getBytes(StandardCharsets.UTF_8));
            if (!resets.isEmpty()) {
                out.write(notice(
                        StreamPosition.format(s.position),
                        "keel.reset",
                        Map.of(
                                "reason",
                                "Last-Event-ID is ahead of this journal in some lanes; they start at their heads",
                                "lanes",
                                resets)));
            }
            out.flush();
            startTails();
            streams.add(s);
            joins.incrementAndGet();
            for (Thread t : tails) {
                LockSupport.unpark(t); // a tail idle for want of streams starts at once, not after its nap
            }
            FanOut owner = fanOuts[Math.floorMod(nextFanOut.getAndIncrement(), fanOuts.length)];
            s.owner = owner;
            owner.streams.add(s);
            catchUp(s, out); // the journal up to now, while the tail does not yet offer this stream anything
            s.live = true;
            catchUp(s, out); // what arrived meanwhile; from here on the tail offers everything newer
            out.flush();
            s.lastWrite = System.nanoTime();
            // From here on the stream writes without a thread of its own: its request goes async, and its
            // fan-out thread (or Jetty's, when its socket was full) writes what it has queued.
            org.eclipse.jetty.server.Response response =
                    org.eclipse.jetty.ee10.servlet.ServletContextRequest.getServletContextRequest(ctx.req())
                            .getServletContextResponse();
            s.handedOver = System.nanoTime();
            ctx.future(() -> s.start(response, ctx.req().getAsyncContext()));
            handedOver = true;
        } catch (IOException e) {
            // The client went away: nothing to answer.
        } catch (RuntimeException e) {
            if (!ctx.res().isCommitted()) {
                throw e; // nothing sent yet: answered as a problem, with its status
            }
            // The journal failed mid-stream: the headers are sent, so say it in the stream, and end it.
            log.warn("an event stream failed; it is ended so the client reconnects", e);
            try {
                OutputStream out = ctx.res().getOutputStream();
                out.write(notice(
                        null,
                        "keel.error",
                        Map.of(
                                "reason",
                                "the server could not read the journal (it is logged); reconnect with"
                                        + " Last-Event-ID to resume")));
                out.flush();
            } catch (IOException | RuntimeException ignored) {
                // the client is gone as well
            }
        } finally {
            if (!handedOver) {
                s.release();
            }
        }
    }

    private void catchUp(Stream s, OutputStream out) throws IOException {
        for (int lane = 0; lane < lanes; lane++) {
            while (true) {
                long head = journal.head(lane); // first: whatever it counts was appended before the read
                if (head <= s.position[lane]) {
                    break; // nothing to read: no query (streams that start at the head open without one)
                }
                List<LogRecord> page = journal.read(lane, s.position[lane], PAGE);
                long next = page.isEmpty() ? head + 1 : page.getFirst().sequence();
                if (next > s.position[lane] + 1) {
                    out.write(gap(s, lane, next - 1));
                }
                if (page.isEmpty()) {
                    break;
                }
                for (LogRecord r : page) {
                    s.position[lane] = r.sequence();
                    if (s.accepts(r.event())) {
                        out.write(event(s, json(r.event())));
                    }
                }
                out.flush();
                if (s.overflowed || closing != null) {
                    return;
                }
            }
        }
    }

    /**
     * Events up to {@code through} were pruned (past the retention) before this stream read them: it says
     * so with a {@code keel.gap} event rather than skipping them silently. Moves the stream past them.
     */
    private byte[] gap(Stream s, int lane, long through) throws IOException {
        long from = s.position[lane] + 1;
        s.position[lane] = through;
        return notice(StreamPosition.format(s.position), "keel.gap", Map.of("lane", lane, "from", from, "to", through));
    }

    /** The last frame of a stream when the server shuts down: when to reconnect, and why. */
    private byte[] shutdown() throws IOException {
        return notice(null, "keel.shutdown\nretry: " + settings.reconnect().toMillis(), Map.of("reason", closing));
    }

    /** The last frame of a stream that fell too far behind: where to resume from. */
    private byte[] overflow(Stream s) throws IOException {
        return notice(
                null,
                "keel.overflow",
                Map.of(
                        "reason",
                        "this client read more slowly than events arrived and fell " + settings.buffer()
                                + " events behind; reconnect with Last-Event-ID to resume from the journal",
                        "lastEventId",
                        StreamPosition.format(s.position)));
    }

    /** The last frame of a stream the server failed to serve: where to resume from. */
    private byte[] broken(Stream s) throws IOException {
        return notice(
                null,
                "keel.error",
                Map.of(
                        "reason",
                        "the server failed to serve this stream (it is logged); reconnect with Last-Event-ID to"
                                + " resume from the journal",
                        "lastEventId",
                        StreamPosition.format(s.position)));
    }

    /**
     * A frame of Keel's own: an {@code id:} when it moves the stream (null otherwise), the event name (and any
     * field lines after it), and its data as JSON.
     */
    private byte[] notice(String id, String event, Map<String, ?> data) throws IOException {
        return ((id == null ? "" : "id: " + id + "\n") + "event: " + event + "\ndata: "
                        + mapper.writeValueAsString(data) + "\n\n")
                .getBytes(StandardCharsets.UTF_8);
    }

    /** One event's frame, with the stream's position (already moved past the event) as its id. */
    private static byte[] event(Stream s, byte[] json) {
        byte[] id = StreamPosition.format(s.position).getBytes(StandardCharsets.US_ASCII);
        byte[] frame = new byte[ID.length + id.length + DATA.length + json.length + 2];
        System.arraycopy(ID, 0, frame, 0, ID.length);
        System.arraycopy(id, 0, frame, ID.length, id.length);
        System.arraycopy(DATA, 0, frame, ID.length + id.length, DATA.length);
        System.arraycopy(json, 0, frame, ID.length + id.length + DATA.length, json.length);
        frame[frame.length - 2] = '\n';
        frame[frame.length - 1] = '\n';
        return frame;
    }

    private byte[] json(Event<?> e) throws IOException {
        return mapper.writeValueAsBytes(CloudEventJson.structured(e));
    }

    // ---- the tail ----

    /**
     * Starts what serves the streams, the first time a stream opens. Each part starts once: after a failure
     * half-way (the journal unreachable), the next stream starts what is missing.
     */
    private synchronized void startTails() {
        if (closed || started) {
            return;
        }
        boolean holding = hold != null;
        if (!holding) {
            // Held at 0 until the heads are read: nothing is pruned under the tail.
            hold = journal.holdPruning(tailed::get);
        }
        long[] heads = new long[lanes];
        try {
            for (int lane = 0; lane < lanes; lane++) {
                // Read before any stream is offered anything: a stream reads what precedes it from the journal.
                heads[lane] = journal.head(lane);
            }
        } catch (RuntimeException e) {
            if (!holding) { // nothing tails yet: pruning goes on until a stream tries again
                hold.close();
                hold = null;
            }
            throw e;
        }
        if (watch == null) {
            watch = journal.watchAppends(lane -> {
                Thread t = parked.get(lane);
                if (t != null) {
                    LockSupport.unpark(t);
                }
            });
        }
        for (FanOut f : fanOuts) {
            if (f.thread == null) {
                f.thread = Thread.ofPlatform()
                        .daemon()
                        .name("keel-stream-fanout-" + f.index)
                        .start(f);
            }
        }
        if (heartbeat == null) {
            heartbeat = Thread.ofVirtual().name("keel-stream-heartbeat").start(this::heartbeats);
        }
        for (int lane = 0; lane < lanes; lane++) {
            if (tails[lane] == null) {
                int l = lane;
                long head = heads[lane];
                tailed.set(lane, head);
                tails[lane] =
                        Thread.ofVirtual().name("keel-stream-tail-" + lane).start(() -> tail(l, head));
            }
        }
        started = true;
    }

    private void tail(int lane, long start) {
        long position = start;
        long pollNanos = settings.poll().toNanos();
        while (!closed) {
            try {
                if (streams.isEmpty()) {
                    // Nobody listens: skip ahead rather than read what no stream wants. Only when no stream
                    // joined while the head was read: one that did may need what lies before that head.
                    int seen = joins.get();
                    long head = journal.head(lane);
                    if (streams.isEmpty() && joins.get() == seen) {
                        position = Math.max(position, head);
                        tailed.set(lane, position);
                    }
                    LockSupport.parkNanos(IDLE.toNanos());
                    continue;
                }
                List<LogRecord> page = journal.head(lane) > position ? journal.read(lane, position, PAGE) : List.of();
                if (page.isEmpty()) {
                    // Woken by this process's appends at once (see startTails); others' are found by polling.
                    parked.set(lane, Thread.currentThread());
                    if (journal.head(lane) <= position) {
                        LockSupport.parkNanos(pollNanos);
                    }
                    parked.set(lane, null);
                    continue;
                }
                if (page.getFirst().sequence() > position + 1) {
                    // Pruned before the tail read it (by another instance, past its retention).
                    log.warn(
                            "events {} to {} of lane {} were pruned before the event streams read them",
                            position + 1,
                            page.getFirst().sequence() - 1,
                            lane);
                    hand(new Gap(lane, page.getFirst().sequence() - 1));
                }
                for (LogRecord r : page) {
                    hand(new Frame(r));
                    position = r.sequence();
                }
                tailed.set(lane, position);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                if (closed) {
                    return;
                }
                if (e instanceof VirtualMachineError vme && !(e instanceof StackOverflowError)) {
                    throw vme;
                }
                log.warn("the event stream tail of lane {} cannot read the journal; retrying in 1 s", lane, e);
                LockSupport.parkNanos(Duration.ofSeconds(1).toNanos());
            }
        }
    }

    /** Gives a frame or a gap to every fan-out thread; waits while one is a full inbox behind. */
    private void hand(Object item) throws InterruptedException {
        for (FanOut f : fanOuts) {
            while (!f.inbox.offer(item, 100, TimeUnit.MILLISECONDS)) {
                if (closed) {
                    throw new InterruptedException("the event streams are closed");
                }
            }
        }
    }

    /**
     * Ends every stream with a {@code keel.shutdown} event that tells the client when to reconnect, and stops
     * the tails. Streams opened afterwards are refused.
     */
    @Override
    public void close() {
        closing = "this server is shutting down; reconnect with Last-Event-ID to resume";
        for (Stream s : streams) {
            s.wake();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        while (!streams.isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        synchronized (this) { // not while startTails registers them
            closed = true;
            if (hold != null) {
                hold.close();
            }
            if (watch != null) {
                watch.close();
            }
        }
        for (Thread t : tails) {
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    /**
     * Has the streams that wrote nothing for a heartbeat interval send a keep-alive comment (which also
     * finds clients that are gone), and gives up streams handed over that never started.
     */
    private void heartbeats() {
        long interval = settings.heartbeat().toNanos();
        while (!closed) {
            LockSupport.parkNanos(Math.max(1_000_000, interval / 4));
            long now = System.nanoTime();
            for (Stream s : streams) {
                try {
                    if (s.handedOver != 0
                            && now - s.handedOver > HAND_OVER.toNanos()
                            && s.state.compareAndSet(Stream.HANDED, Stream.ABANDONED)) {
                        // Its request has not gone async in all that time: it must not hold a slot for good. If
                        // it starts after all, it ends at once with keel.error (see start).
                        log.warn("an event stream was handed over but did not start in {}; it is given up", HAND_OVER);
                        s.release();
                        continue;
                    }
                    if (s.live && now - s.lastWrite >= interval && s.queue.isEmpty()) {
                        s.heartbeatDue = true; // a busy stream is writing anyway
                        s.wake();
                    }
                } catch (RuntimeException e) {
                    log.warn("an event stream could not be sent its keep-alive", e);
                }
            }
        }
    }

    /**
     * Events of a lane up to {@code through} that the stream cannot have: pruned before the tail read them,
     * or one that cannot be written as JSON.
     */
    private record Gap(int lane, long through) {}

    /** A frame, and the position it names. Never changed: written to many streams at once. */
    private record Shared(long[] position, byte[] frame) {}

    /** One event, written as JSON once, by the first fan-out thread that has a stream wanting it. */
    private final class Frame {
        final LogRecord record;
        private volatile byte[] json;
        private volatile boolean failed;
        /** The frame last made for a stream, and that stream's position: the next at the same one reuses it. */
        private volatile Shared shared;

        Frame(LogRecord record) {
            this.record = record;
        }

        /**
         * The event's frame for a stream, whose position is already past it. Streams that stand at the same
         * position (the live ones, mostly) share one: one array for all their writes, not one each.
         */
        byte[] frameAt(Stream s) {
            Shared last = shared;
            if (last != null && java.util.Arrays.equals(last.position, s.position)) {
                return last.frame;
            }
            byte[] frame = event(s, json());
            shared = new Shared(s.position.clone(), frame);
            return frame;
        }

        /** The event's JSON; null when it cannot be written (logged once). */
        byte[] json() {
            byte[] j = json;
            if (j != null || failed) {
                return j;
            }
            synchronized (this) {
                if (json == null && !failed) {
                    try {
                        json = EventStreams.this.json(record.event());
                    } catch (IOException | RuntimeException e) {
                        // Not skipped silently: the streams that wanted it are told, as for a pruned event.
                        log.error(
                                "event {} cannot be written as JSON for streams",
                                record.event().id(),
                                e);
                        failed = true;
                    }
                }
                return json;
            }
        }
    }

    /**
     * A thread that queues the tail's frames on the streams it owns and writes them. A write that the socket
     * takes at once happens here; one that waits for the socket completes on Jetty's thread, which goes on
     * writing that stream.
     */
    private final class FanOut implements Runnable {
        final int index;
        final BlockingQueue<Object> inbox = new ArrayBlockingQueue<>(INBOX);
        final Set<Stream> streams = ConcurrentHashMap.newKeySet();
        /** Its thread, once started; guarded by the EventStreams. */
        Thread thread;

        private long lastFailureLog = System.nanoTime() - TimeUnit.SECONDS.toNanos(2);

        FanOut(int index) {
            this.index = index;
        }

        @Override
        public void run() {
            List<Object> batch = new java.util.ArrayList<>(BATCH);
            while (!closed) {
                try {
                    Object first = inbox.poll(IDLE.toMillis(), TimeUnit.MILLISECONDS);
                    if (first == null) {
                        continue;
                    }
                    batch.add(first);
                    inbox.drainTo(batch, BATCH - 1);
                    for (Stream s : streams) {
                        try {
                            if (queue(s, batch)) {
                                s.wake();
                            }
                        } catch (Throwable t) { // the thread serves every other stream; this one ends
                            fail(s, t);
                        }
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (Throwable t) {
                    // Out of memory taking the batch, say: its events may be lost to every stream here, which
                    // end so that their clients resume from the journal. The thread goes on for new ones.
                    for (Stream s : streams) {
                        fail(s, t);
                    }
                } finally {
                    batch.clear();
                }
            }
        }

        /**
         * A stream this thread could not serve: it may have missed events, so it ends with {@code keel.error}
         * and its last position, and the client resumes from the journal.
         */
        private void fail(Stream s, Throwable t) {
            long now = System.nanoTime();
            if (now - lastFailureLog > TimeUnit.SECONDS.toNanos(1)) {
                lastFailureLog = now; // one a second: a failure that hits every stream would hit them all
                log.error("an event stream failed; it is ended so that its client resumes from the journal", t);
            }
            s.broken = true;
            s.queue.clear();
            try {
                s.wake();
            } catch (Throwable again) { // then the heartbeat's next wake ends it
                log.debug("an event stream could not be woken to end", again);
            }
        }

        /** Queues on one stream what it wants of a batch; true when it got something. */
        private boolean queue(Stream s, List<Object> batch) {
            if (!s.live || s.overflowed || s.broken) {
                return false;
            }
            boolean queued = false;
            for (Object item : batch) {
                Object entry = item;
                if (item instanceof Frame f) {
                    if (!s.accepts(f.record.event())) {
                        continue;
                    }
                    if (f.json() == null) {
                        entry = new Gap(f.record.lane(), f.record.sequence());
                    }
                }
                queued = true;
                if (!s.queue.offer(entry)) {
                    s.overflowed = true;
                    s.queue.clear(); // its writer sends the overflow event next; what it would drop frees memory now
                    return true;
                }
            }
            return queued;
        }
    }

    /** One open stream. */
    private final class Stream {
        final String tenant;
        final List<TypePattern> types;
        final AtomicInteger held;
        final BlockingQueue<Object> queue;
        final CompletableFuture<Void> done = new CompletableFuture<>();
        private final java.util.concurrent.atomic.AtomicBoolean released =
                new java.util.concurrent.atomic.AtomicBoolean();
        FanOut owner;
        /**
         * Per lane, the sequence the stream has passed; touched by its request's thread until {@link #start},
         * then by its writer only.
         */
        long[] position;

        volatile boolean live;
        volatile boolean overflowed;
        /** Set when its fan-out thread failed to serve it: it ends with {@code keel.error}. */
        volatile boolean broken;

        volatile boolean heartbeatDue;
        /** Writes the stream once its request has gone async; null before. */
        volatile Writer writer;
        /** When its request thread handed it over to go async (nanoTime); 0 before. */
        volatile long handedOver;

        static final int HANDED = 0;
        static final int STARTED = 1;
        static final int ABANDONED = 2;
        /** Whether it went async after the hand-over, or was given up waiting for that. */
        final AtomicInteger state = new AtomicInteger(HANDED);
        /** When the stream last wrote (nanoTime); read by the heartbeat thread. */
        volatile long lastWrite = System.nanoTime();

        Stream(String tenant, List<TypePattern> types, AtomicInteger held) {
            this.tenant = tenant;
            this.types = types;
            this.held = held;
            this.queue = new LinkedBlockingQueue<>(settings.buffer());
        }

        boolean accepts(Event<?> e) {
            if (tenant != null && !Objects.equals(tenant, e.tenant())) {
                return false;
            }
            for (TypePattern p : types) {
                if (p.matches(e.type())) {
                    return true;
                }
            }
            return false;
        }

        /** Called once its request is async: from here on the writer sends what is queued. */
        CompletableFuture<Void> start(org.eclipse.jetty.server.Response response, jakarta.servlet.AsyncContext async) {
            Writer w = new Writer(this, response);
            async.setTimeout(0); // a stream lasts as long as its client stays, whatever Javalin's default
            async.addListener(new jakarta.servlet.AsyncListener() {
                @Override
                public void onComplete(jakarta.servlet.AsyncEvent event) {
                    release();
                }

                @Override
                public void onTimeout(jakarta.servlet.AsyncEvent event) {
                    w.abort(new java.util.concurrent.TimeoutException("the stream's request timed out"));
                }

                @Override
                public void onError(jakarta.servlet.AsyncEvent event) {
                    // The connection failed outside a write of the stream's: it ends now, not at its next write.
                    w.abort(event.getThrowable() != null ? event.getThrowable() : new IOException("connection failed"));
                }

                @Override
                public void onStartAsync(jakarta.servlet.AsyncEvent event) {}
            });
            if (!state.compareAndSet(HANDED, STARTED)) {
                broken = true; // given up meanwhile, so it had no events since: it ends, with where to resume
            }
            writer = w;
            w.iterate(); // what was queued while it caught up, or the final event when it is already ending
            return done;
        }

        /** Has its writer send what is queued, unless it is busy (then it does so when done). */
        void wake() {
            Writer w = writer;
            if (w != null) {
                w.iterate();
            }
        }

        /** Forgets the stream, once: it no longer counts against its token, nor gets events. */
        void release() {
            if (released.compareAndSet(false, true)) {
                streams.remove(this);
                if (owner != null) {
                    owner.streams.remove(this);
                }
                held.decrementAndGet();
            }
        }
    }

    /**
     * Writes one stream's queued frames, one write at a time, each taking a bounded batch of what is queued.
     * Jetty's {@link IteratingCallback} runs {@link #process} on one thread at a time: the one that woke the
     * stream (its fan-out thread, the heartbeat thread, the request thread at the hand-over, the thread
     * closing the streams) when the socket takes the write at once, or Jetty's thread that completes a
     * write that waited.
     */
    private final class Writer extends IteratingCallback {
        private final Stream s;
        private final org.eclipse.jetty.server.Response response;
        private boolean ending;

        Writer(Stream s, org.eclipse.jetty.server.Response response) {
            this.s = s;
            this.response = response;
        }

        @Override
        protected Action process() throws IOException {
            if (ending) {
                return Action.SUCCEEDED; // the final frame is written
            }
            byte[] bytes;
            if (closing != null) {
                ending = true;
                bytes = shutdown();
            } else if (s.overflowed) {
                ending = true;
                bytes = overflow(s);
            } else if (s.broken) {
                ending = true;
                bytes = broken(s);
            } else {
                bytes = queued();
            }
            if (bytes == null) {
                return Action.IDLE;
            }
            s.lastWrite = System.nanoTime();
            response.write(false, ByteBuffer.wrap(bytes), this);
            return Action.SCHEDULED;
        }

        /**
         * The frames queued now: up to {@link #BATCH} of them, taken until they hold {@link #WRITE_BYTES} (a
         * single frame is its shared array). Else a keep-alive when one is due; null for nothing.
         */
        private byte[] queued() throws IOException {
            byte[] one = null;
            List<byte[]> more = null;
            int bytes = 0;
            for (int n = 0; n < BATCH && bytes < WRITE_BYTES; n++) {
                Object item = s.queue.poll();
                if (item == null) {
                    break;
                }
                byte[] frame = null;
                if (item instanceof Frame f && f.record.sequence() > s.position[f.record.lane()]) {
                    s.position[f.record.lane()] = f.record.sequence();
                    frame = f.frameAt(s);
                } else if (item instanceof Gap g && g.through() > s.position[g.lane()]) {
                    frame = gap(s, g.lane(), g.through());
                }
                if (frame == null) {
                    continue; // caught up on it from the journal already
                }
                bytes += frame.length;
                if (one == null) {
                    one = frame;
                } else {
                    if (more == null) {
                        more = new java.util.ArrayList<>();
                        more.add(one);
                    }
                    more.add(frame);
                }
            }
            if (more != null) {
                byte[] all = new byte[bytes];
                int at = 0;
                for (byte[] frame : more) {
                    System.arraycopy(frame, 0, all, at, frame.length);
                    at += frame.length;
                }
                return all;
            }
            if (one == null && s.heartbeatDue) {
                s.heartbeatDue = false;
                if (System.nanoTime() - s.lastWrite >= settings.heartbeat().toNanos() / 2) {
                    return KEEPALIVE;
                }
            }
            return one;
        }

        @Override
        protected void onCompleteSuccess() {
            finish();
        }

        @Override
        protected void onCompleteFailure(Throwable cause) {
            if (!(cause instanceof IOException) && !(cause instanceof java.util.concurrent.TimeoutException)) {
                log.warn("an event stream failed; it is ended so that its client resumes from the journal", cause);
            } // else the client went away, or its write timed out: nothing more to send
            finish();
        }

        private void finish() {
            s.release();
            // The request completes, ending the response; not on this thread, which may be a fan-out thread
            // in the middle of its streams.
            Thread.ofVirtual().name("keel-stream-end").start(() -> s.done.complete(null));
        }
    }
}
