package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.LogAccess;
import dev.keel.TypePattern;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
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
 *
 * <p>This class opens streams and starts and stops what serves them; the parts are {@link StreamRegistry} (the
 * open streams and their slots), {@link StreamCatchUp} (the journal up to the live tail), {@link StreamTails}
 * (one reader per lane), {@link StreamFanOut} (a share of the streams each), {@link StreamWriter} (one stream's
 * non-blocking writes), {@link StreamHeartbeat} (keep-alives and lost hand-overs), {@link StreamFrames} (the
 * bytes) and {@link OpenStream} (one stream's state). Its own mutable state (whether the parts run, whether
 * they are closed) is guarded by its lock, which also guards the parts' setup and shutdown.
 */
final class EventStreams implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EventStreams.class);
    /** The most events one journal read takes, catching up or tailing. */
    static final int PAGE = 512;
    /** The most frames a fan-out thread takes at once, and a stream writes at once. */
    static final int BATCH = 256;
    /** How long a tail without streams, or a fan-out thread without frames, waits before looking again. */
    static final Duration IDLE = Duration.ofMillis(200);

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
        /** The poll when every append, other instances' too, wakes the tails (Redis notices): a safety net. */
        static final Duration NOTIFIED_POLL = Duration.ofMillis(500);

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

    private final Settings settings;
    private final StreamFrames frames;
    private final StreamRegistry registry;
    private final StreamCatchUp catchUp;
    private final StreamFanOut[] fanOuts;
    private final AtomicInteger nextFanOut = new AtomicInteger();
    private final StreamTails tails;
    private final StreamHeartbeat heartbeat;

    /** Whether the parts are closed; guarded by this. */
    private boolean closed;
    /** Whether the parts run; guarded by this. */
    private boolean started;

    EventStreams(dev.keel.Keel keel, ObjectMapper mapper, Settings settings) {
        LogAccess journal = keel.logAccess();
        int lanes = keel.lanes();
        this.settings = settings;
        this.frames = new StreamFrames(mapper, settings);
        this.registry = new StreamRegistry(settings.maxPerToken());
        this.catchUp = new StreamCatchUp(journal, lanes, frames, registry);
        this.fanOuts =
                new StreamFanOut[Math.max(1, Math.min(8, Runtime.getRuntime().availableProcessors()))];
        for (int i = 0; i < fanOuts.length; i++) {
            fanOuts[i] = new StreamFanOut(i);
        }
        this.tails = new StreamTails(journal, lanes, settings.poll(), registry, frames, fanOuts);
        this.heartbeat = new StreamHeartbeat(registry, settings.heartbeat());
    }

    /** How many streams are open, of one tenant (every stream when null: open mode). */
    int open(String tenant) {
        return registry.open(tenant);
    }

    /** The open streams by tenant and types, for the census across instances. */
    Map<String, Map<String, Integer>> countsByTenantAndTypes() {
        return registry.countsByTenantAndTypes();
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
        String closing = registry.closing();
        if (closing != null) {
            // Not a 503: browsers' EventSource gives up for good on an error status, but reconnects after a
            // stream that ends. So a stream that only says to come back, as every open stream was told.
            ctx.status(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            OutputStream out = ctx.res().getOutputStream();
            out.write(frames.shutdown(closing));
            out.flush();
            return;
        }
        AtomicInteger held = registry.claim(token);
        if (held == null) {
            ctx.header("Retry-After", "5");
            throw new ProblemException(
                    429,
                    "too-many-streams",
                    "Too many streams",
                    "this token holds " + settings.maxPerToken() + " open streams, the most allowed; close one first");
        }
        OpenStream s = new OpenStream(tenant, types, held, settings.buffer());
        boolean handedOver = false;
        try {
            List<Map<String, Long>> resets = catchUp.resume(s, from);
            ctx.status(200);
            ctx.res().setContentType("text/event-stream;charset=utf-8");
            ctx.res().setHeader("Cache-Control", "no-cache");
            ctx.res().setHeader("X-Accel-Buffering", "no");
            OutputStream out = ctx.res().getOutputStream();
            out.write(frames.opening());
            if (!resets.isEmpty()) {
                out.write(frames.reset(s, resets));
            }
            out.flush();
            start();
            registry.add(s);
            tails.wake(); // a tail idle for want of streams starts at once, not after its nap
            StreamFanOut owner = fanOuts[Math.floorMod(nextFanOut.getAndIncrement(), fanOuts.length)];
            s.owner = owner;
            owner.streams.add(s);
            catchUp.write(s, out); // the journal up to now, while the tail does not yet offer this stream anything
            s.live = true;
            catchUp.write(s, out); // what arrived meanwhile; from here on the tail offers everything newer
            out.flush();
            s.lastWrite = System.nanoTime();
            // From here on the stream writes without a thread of its own: its request goes async, and its
            // fan-out thread (or Jetty's, when its socket was full) writes what it has queued.
            org.eclipse.jetty.server.Response response =
                    org.eclipse.jetty.ee10.servlet.ServletContextRequest.getServletContextRequest(ctx.req())
                            .getServletContextResponse();
            s.handedOver = System.nanoTime();
            ctx.future(() -> new StreamWriter(s, response, frames, registry, settings.heartbeat())
                    .start(ctx.req().getAsyncContext()));
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
                out.write(frames.unreadable());
                out.flush();
            } catch (IOException | RuntimeException ignored) {
                // the client is gone as well
            }
        } finally {
            if (!handedOver) {
                registry.release(s);
            }
        }
    }

    /**
     * Starts what serves the streams, the first time a stream opens. Each part starts once: after a failure
     * half-way (the journal unreachable), the next stream starts what is missing.
     */
    private synchronized void start() {
        if (closed || started) {
            return;
        }
        long[] heads = tails.prepare();
        for (StreamFanOut f : fanOuts) {
            f.start();
        }
        heartbeat.start();
        tails.start(heads);
        started = true;
    }

    /**
     * Ends every stream with a {@code keel.shutdown} event that tells the client when to reconnect, and stops
     * the tails. Streams opened afterwards are refused.
     */
    @Override
    public void close() {
        registry.closing("this server is shutting down; reconnect with Last-Event-ID to resume");
        for (OpenStream s : registry.streams()) {
            s.wake();
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        while (!registry.isEmpty() && System.nanoTime() < deadline) {
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        synchronized (this) { // not while start registers them
            closed = true;
            for (StreamFanOut f : fanOuts) {
                f.close();
            }
            heartbeat.close();
            tails.close();
        }
        tails.wake();
    }
}
