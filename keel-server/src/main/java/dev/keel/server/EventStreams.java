package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.TypePattern;
import dev.keel.spi.Journal;
import dev.keel.spi.LogRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Server-Sent Events of the journal's events. One reader per lane tails the log (so a stream sees every
 * instance's events, whichever instance serves it) and hands each new event to the streams that want it;
 * each stream writes from its own virtual thread, with a bounded buffer. A stream that resumes with
 * {@code Last-Event-ID} first reads the journal from the position its id names, then joins the live tail,
 * with no gap and no duplicate.
 */
final class EventStreams implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);
    private static final byte[] KEEPALIVE = ": keepalive\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final Object WAKE = new Object();
    private static final Object HEARTBEAT = new Object();
    private static final byte[] ID = "id: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DATA = "\ndata: ".getBytes(StandardCharsets.US_ASCII);
    private static final int PAGE = 512;
    private static final Duration HEAD_RECHECK = Duration.ofMillis(250);
    private static final Duration IDLE = Duration.ofMillis(200);

    /**
     * How streams behave.
     *
     * @param heartbeat how often an idle stream sends a comment, which keeps proxies from closing it and
     *     finds clients that are gone
     * @param buffer the most events one stream may have waiting; a client slower than that is closed
     * @param maxPerToken the most streams one token may hold open
     * @param poll how long the tail waits before looking for new events when it found none
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
    private final Journal journal;
    private final int lanes;
    /** Per lane, the last sequence the tail has handed to the streams; pruning in this process waits for it. */
    private final java.util.concurrent.atomic.AtomicLongArray tailed;

    private dev.keel.Keel.Hold hold;
    private final ObjectMapper mapper;
    private final Settings settings;
    private final Set<Stream> streams = ConcurrentHashMap.newKeySet();
    private final Map<Object, AtomicInteger> perToken = new ConcurrentHashMap<>();
    private final Thread[] tails;
    /** Counts streams joining, so an idle tail never skips past events a stream joining meanwhile needs. */
    private final AtomicInteger joins = new AtomicInteger();

    private volatile boolean closed;
    private volatile String closing;

    EventStreams(dev.keel.Keel keel, ObjectMapper mapper, Settings settings) {
        this.keel = keel;
        this.journal = keel.journal();
        this.lanes = keel.lanes();
        this.tailed = new java.util.concurrent.atomic.AtomicLongArray(lanes);
        this.mapper = mapper;
        this.settings = settings;
        this.tails = new Thread[lanes];
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
     * Serves one stream on the calling thread until the client goes, falls too far behind, or the server
     * shuts down.
     *
     * @param token whose connection count it counts against (null in open mode)
     * @param tenant the only tenant whose events it carries; null for every tenant
     * @param from where to resume; null to start with the events appended from now on
     * @throws ProblemException 429 when the token holds too many streams, 503 when shutting down
     */
    void serve(io.javalin.http.Context ctx, Object token, String tenant, List<TypePattern> types, StreamPosition from)
            throws IOException {
        if (closing != null) {
            // Not a 503: browsers' EventSource gives up for good on an error status, but reconnects after a
            // stream that ends. So a stream that only says to come back, as every open stream was told.
            ctx.status(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            OutputStream out = ctx.res().getOutputStream();
            shutdown(out);
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
        Stream s = new Stream(tenant, types, settings.buffer());
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
            write(out, "retry: " + settings.reconnect().toMillis() + "\n: stream open\n\n");
            if (!resets.isEmpty()) {
                write(
                        out,
                        "id: " + StreamPosition.format(s.position) + "\nevent: keel.reset\ndata: "
                                + mapper.writeValueAsString(Map.of(
                                        "reason",
                                        "Last-Event-ID is ahead of this journal in some lanes; they start at their"
                                                + " heads",
                                        "lanes",
                                        resets))
                                + "\n\n");
            }
            out.flush();
            startTails();
            streams.add(s);
            joins.incrementAndGet();
            catchUp(s, out); // the journal up to now, while the tail does not yet offer this stream anything
            s.live = true;
            catchUp(s, out); // what arrived meanwhile; from here on the tail offers everything newer
            out.flush();
            pump(s, out);
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
                write(
                        out,
                        "event: keel.error\ndata: "
                                + mapper.writeValueAsString(Map.of(
                                        "reason",
                                        "the server could not read the journal (it is logged); reconnect with"
                                                + " Last-Event-ID to resume"))
                                + "\n\n");
                out.flush();
            } catch (IOException | RuntimeException ignored) {
                // the client is gone as well
            }
        } finally {
            streams.remove(s);
            held.decrementAndGet();
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
                    gap(s, out, lane, next - 1);
                }
                if (page.isEmpty()) {
                    break;
                }
                for (LogRecord r : page) {
                    s.position[lane] = r.sequence();
                    if (s.accepts(r.event())) {
                        writeEvent(out, s, json(r.event()));
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
     * so with a {@code keel.gap} event rather than skipping them silently.
     */
    private void gap(Stream s, OutputStream out, int lane, long through) throws IOException {
        long from = s.position[lane] + 1;
        s.position[lane] = through;
        write(
                out,
                "id: " + StreamPosition.format(s.position) + "\nevent: keel.gap\ndata: "
                        + mapper.writeValueAsString(Map.of("lane", lane, "from", from, "to", through)) + "\n\n");
    }

    /** The last frame of a stream when the server shuts down: when to reconnect, and why. */
    private void shutdown(OutputStream out) throws IOException {
        write(
                out,
                "event: keel.shutdown\nretry: " + settings.reconnect().toMillis() + "\ndata: "
                        + mapper.writeValueAsString(Map.of("reason", closing)) + "\n\n");
        out.flush();
    }

    private void pump(Stream s, OutputStream out) throws IOException {
        long heartbeat = settings.heartbeat().toNanos();
        while (true) {
            if (closing != null) {
                shutdown(out);
                return;
            }
            if (s.overflowed) {
                write(
                        out,
                        "event: keel.overflow\ndata: "
                                + mapper.writeValueAsString(Map.of(
                                        "reason",
                                        "this client read more slowly than events arrived and fell "
                                                + settings.buffer() + " events behind; reconnect with Last-Event-ID to"
                                                + " resume from the journal",
                                        "lastEventId",
                                        StreamPosition.format(s.position)))
                                + "\n\n");
                out.flush();
                return;
            }
            Object item;
            try {
                // Untimed: one heartbeat thread wakes idle streams, rather than a timer armed per wait.
                item = s.queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (item == HEARTBEAT) {
                if (System.nanoTime() - s.lastWrite >= heartbeat / 2) {
                    out.write(KEEPALIVE);
                    out.flush();
                    s.lastWrite = System.nanoTime();
                }
                continue;
            }
            int written = 0;
            while (item != null) {
                if (item instanceof Frame f && f.sequence > s.position[f.lane]) {
                    s.position[f.lane] = f.sequence;
                    writeEvent(out, s, f.json());
                } else if (item instanceof Gap g && g.through > s.position[g.lane]) {
                    gap(s, out, g.lane, g.through);
                }
                if (++written == 256) {
                    break;
                }
                item = s.queue.poll();
            }
            out.flush();
            s.lastWrite = System.nanoTime();
        }
    }

    private void writeEvent(OutputStream out, Stream s, byte[] json) throws IOException {
        // One array, one write: the servlet stack costs per call, and a stream writes one frame per event.
        byte[] id = StreamPosition.format(s.position).getBytes(StandardCharsets.US_ASCII);
        byte[] frame = new byte[ID.length + id.length + DATA.length + json.length + 2];
        System.arraycopy(ID, 0, frame, 0, ID.length);
        System.arraycopy(id, 0, frame, ID.length, id.length);
        System.arraycopy(DATA, 0, frame, ID.length + id.length, DATA.length);
        System.arraycopy(json, 0, frame, ID.length + id.length + DATA.length, json.length);
        frame[frame.length - 2] = '\n';
        frame[frame.length - 1] = '\n';
        out.write(frame);
    }

    private static void write(OutputStream out, String text) throws IOException {
        out.write(text.getBytes(StandardCharsets.UTF_8));
    }

    private byte[] json(Event<?> e) throws IOException {
        return mapper.writeValueAsBytes(CloudEventJson.structured(e));
    }

    // ---- the tail ----

    private synchronized void startTails() {
        if (closed || tails[0] != null) {
            return;
        }
        Thread.ofVirtual().name("keel-stream-heartbeat").start(this::heartbeats);
        // Held at 0 until the heads are read: nothing is pruned under the tail.
        hold = keel.holdPruning(tailed::get);
        for (int lane = 0; lane < lanes; lane++) {
            int l = lane;
            // Read before any stream is offered anything: a stream reads what precedes it from the journal.
            long head = journal.head(lane);
            tailed.set(lane, head);
            tails[lane] = Thread.ofVirtual().name("keel-stream-tail-" + lane).start(() -> tail(l, head));
        }
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
                    LockSupport.parkNanos(pollNanos);
                    continue;
                }
                if (page.getFirst().sequence() > position + 1) {
                    // Pruned before the tail read it (by another instance, past its retention).
                    log.warn(
                            "events {} to {} of lane {} were pruned before the event streams read them",
                            position + 1,
                            page.getFirst().sequence() - 1,
                            lane);
                    offer(lane, new Gap(lane, page.getFirst().sequence() - 1));
                }
                for (LogRecord r : page) {
                    offer(r);
                    position = r.sequence();
                }
                tailed.set(lane, position);
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

    private void offer(LogRecord r) {
        Frame frame = null;
        for (Stream s : streams) {
            if (!s.live || s.overflowed || !s.accepts(r.event())) {
                continue;
            }
            if (frame == null) {
                try {
                    frame = new Frame(r.lane(), r.sequence(), json(r.event()));
                } catch (IOException | RuntimeException e) {
                    // Not skipped silently: the streams that wanted it are told, as for a pruned event.
                    log.error(
                            "event {} cannot be written as JSON for streams",
                            r.event().id(),
                            e);
                    Gap gap = new Gap(r.lane(), r.sequence());
                    for (Stream t : streams) {
                        if (t.live && !t.overflowed && t.accepts(r.event())) {
                            t.queue.offer(gap);
                        }
                    }
                    return;
                }
            }
            if (!s.queue.offer(frame)) {
                s.overflowed = true;
                s.queue.clear(); // its writer sends the overflow event next; what it would drop frees memory now
                s.queue.offer(WAKE);
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
            s.queue.offer(WAKE);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        while (!streams.isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        closed = true;
        if (hold != null) {
            hold.close();
        }
        for (Thread t : tails) {
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    /** Wakes the streams that wrote nothing for a heartbeat interval, so they send a keep-alive comment. */
    private void heartbeats() {
        long interval = settings.heartbeat().toNanos();
        while (!closed) {
            LockSupport.parkNanos(Math.max(1_000_000, interval / 4));
            long now = System.nanoTime();
            for (Stream s : streams) {
                if (s.live && now - s.lastWrite >= interval && s.queue.isEmpty()) {
                    s.queue.offer(HEARTBEAT); // only into an empty queue: a busy stream is writing anyway
                }
            }
        }
    }

    private void offer(int lane, Gap gap) {
        for (Stream s : streams) {
            if (s.live && !s.overflowed && !s.queue.offer(gap)) {
                s.overflowed = true;
                s.queue.clear();
                s.queue.offer(WAKE);
            }
        }
    }

    /** Events of a lane up to {@code through} that the tail found pruned. */
    private record Gap(int lane, long through) {}

    /** One event, written once as JSON for every stream that wants it. */
    private record Frame(int lane, long sequence, byte[] json) {}

    /** One open stream. */
    private static final class Stream {
        final String tenant;
        final List<TypePattern> types;
        final BlockingQueue<Object> queue;
        /** Per lane, the sequence the stream has passed; touched by the stream's own thread only. */
        long[] position;

        volatile boolean live;
        volatile boolean overflowed;
        /** When the stream last wrote (nanoTime); read by the heartbeat thread. */
        volatile long lastWrite = System.nanoTime();

        Stream(String tenant, List<TypePattern> types, int buffer) {
            this.tenant = tenant;
            this.types = types;
            this.queue = new LinkedBlockingQueue<>(buffer);
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
    }
}
