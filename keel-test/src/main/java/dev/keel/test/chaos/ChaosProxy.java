package dev.keel.test.chaos;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A TCP proxy on loopback that injects network faults between a client and a server, for tests: point the client
 * at {@link #port()} instead of the server, then, while the client runs, add {@link #latency(Duration) latency},
 * {@link #dropConnections(Drop) drop} every open connection, {@link #blackhole() blackhole} the link, {@link
 * #refuseConnections() refuse} new connections, or {@link #restart(Duration) restart} the "server".
 *
 * <pre>{@code
 * try (ChaosProxy proxy = ChaosProxy.builder().target("127.0.0.1", postgresPort).build()) {
 *     String url = "jdbc:postgresql://127.0.0.1:" + proxy.port() + "/keel";
 *     ...
 *     proxy.blackhole(Duration.ofSeconds(10)); // nothing passes for 10 s, then it heals on its own
 * }
 * }</pre>
 *
 * <p><b>What each fault looks like to the client.</b>
 *
 * <ul>
 *   <li>Latency: every chunk read from either side is held for the latency before it is written to the other.
 *       A direction forwards one chunk at a time, so a burst of chunks is slowed by more than one latency.
 *   <li>Drop: every open connection is ended at once, both sides, with a reset ({@link Drop#RESET}: the peer's
 *       next read or write fails with "connection reset") or an orderly close ({@link Drop#CLOSE}: the peer reads
 *       end of stream). New connections are still accepted.
 *   <li>Blackhole: connections stay open and new ones are accepted, but nothing is forwarded either way; what was
 *       sent meanwhile waits (in the proxy, one chunk per direction, and in the sockets' buffers) and flows when the
 *       blackhole heals, as it would after a network partition that TCP outlasts. A client that gives up and
 *       closes its side meanwhile finds its connection gone after the heal.
 *   <li>Refuse: the listening socket is closed, so a new connection is refused by the operating system
 *       ("connection refused"); open connections carry on. The same port is bound again on {@link
 *       #acceptConnections()}.
 *   <li>Restart: a drop with resets, then refusal for a while, then accepting again: a server that crashed and
 *       came back.
 * </ul>
 *
 * <p><b>Threads and what each owns.</b>
 *
 * <ul>
 *   <li>The acceptor ({@code chaos-proxy-accept}, a virtual thread, one per period of accepting) owns its
 *       listening socket's accept loop; {@link #refuseConnections()} ends it by closing that socket.
 *   <li>Each connection (a pipe) has two pumps ({@code chaos-proxy-pump}, virtual threads with blocking sockets),
 *       one per direction; each owns its buffer and the chunk it holds. The two sockets of a pipe are shared by
 *       its pumps and by the fault methods, which only ever close them (closing is safe from any thread). The
 *       pump that ends last removes the pipe from the set of live pipes.
 *   <li>The fault settings are one immutable value in a volatile field, replaced only under the proxy's lock by
 *       the fault methods (any thread); pumps read it and wait on the lock's condition while a blackhole holds
 *       them or a chunk's latency runs.
 *   <li>The timer ({@code chaos-proxy-timer}, a platform thread) ends timed faults; each timed fault carries the
 *       epoch it was set in, and does nothing if another fault method ran since.
 * </ul>
 *
 * <p>{@link #close()} stops accepting, ends every pipe and the timer; {@link #pipes()} counts the live pipes, so a
 * test can check that none is left behind.
 */
public final class ChaosProxy implements AutoCloseable {
    /** The size of the buffer each pump reads into. */
    public static final int CHUNK_BYTES = 16 * 1024;
    /** How long connecting to the target may take before the client's connection is reset. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);

    /** How an open connection is ended by {@link #dropConnections(Drop)}. */
    public enum Drop {
        /** A TCP reset (linger 0): the peer sees "connection reset". */
        RESET,
        /** An orderly close: the peer reads end of stream. */
        CLOSE
    }

    /** What the proxy does to traffic now; replaced whole, never changed. */
    private record Faults(Duration latency, boolean blackholed, boolean refusing, long epoch) {}

    private final InetSocketAddress target;
    private final Duration connectTimeout;
    private final int port;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Set<Pipe> pipes = ConcurrentHashMap.newKeySet();
    private final AtomicLong accepted = new AtomicLong();
    private final ScheduledExecutorService timer;

    private volatile Faults faults = new Faults(Duration.ZERO, false, false, 0);
    /** The socket accepting now, or null while refusing or closed; written under the lock. */
    private ServerSocket listener;
    /** The thread accepting on {@link #listener}; written under the lock. */
    private Thread acceptor;

    /** Written under the lock. */
    private volatile boolean closed;

    private ChaosProxy(Builder b) throws IOException {
        this.target = new InetSocketAddress(b.targetHost, b.targetPort);
        this.connectTimeout = b.connectTimeout;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "chaos-proxy-timer");
            t.setDaemon(true);
            return t;
        });
        try {
            ServerSocket first = bind(b.listenPort);
            this.port = first.getLocalPort();
            lock.lock();
            try {
                listener = first;
                startAcceptor(first);
            } finally {
                lock.unlock();
            }
        } catch (IOException | RuntimeException e) {
            timer.shutdownNow();
            throw e;
        }
    }

    /** A builder: {@link Builder#target(String, int)} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** A proxy on an ephemeral loopback port to the target. */
    public static ChaosProxy to(String host, int port) {
        return builder().target(host, port).build();
    }

    /** The loopback port clients connect to; it stays the same through refusals and restarts. */
    public int port() {
        return port;
    }

    /** The host clients connect to: {@code 127.0.0.1}. */
    public String host() {
        return "127.0.0.1";
    }

    /** Open connections (each a client's socket and the target's). */
    public int pipes() {
        return pipes.size();
    }

    /** Connections accepted since the start. */
    public long accepted() {
        return accepted.get();
    }

    /** Whether new connections are accepted now. */
    public boolean accepting() {
        return !faults.refusing();
    }

    /** Whether nothing is forwarded now. */
    public boolean blackholed() {
        return faults.blackholed();
    }

    /**
     * Holds every chunk, both directions, for this long before forwarding it, from now on (chunks already held keep
     * their delay); {@link Duration#ZERO} removes the latency.
     */
    public void latency(Duration latency) {
        Objects.requireNonNull(latency, "latency");
        if (latency.isNegative()) {
            throw new IllegalArgumentException("latency must be zero or more but was " + latency);
        }
        change(f -> new Faults(latency, f.blackholed(), f.refusing(), f.epoch()));
    }

    /** Ends every open connection with a reset; new connections are still accepted. */
    public void dropConnections() {
        dropConnections(Drop.RESET);
    }

    /** Ends every open connection, both sides, as {@code how} says; new connections are still accepted. */
    public void dropConnections(Drop how) {
        Objects.requireNonNull(how, "how");
        for (Pipe p : pipes) {
            p.end(how);
        }
    }

    /** Forwards nothing, either way, until {@link #heal()}; connections are still accepted and kept. */
    public void blackhole() {
        change(f -> new Faults(f.latency(), true, f.refusing(), f.epoch() + 1));
    }

    /** Forwards nothing for this long, then heals on its own (unless another fault method runs first). */
    public void blackhole(Duration duration) {
        requirePositive(duration, "a blackhole's duration");
        Faults now = change(f -> new Faults(f.latency(), true, f.refusing(), f.epoch() + 1));
        later(duration, now.epoch(), this::heal);
    }

    /** Ends a blackhole: what waited flows on. */
    public void heal() {
        change(f -> new Faults(f.latency(), false, f.refusing(), f.epoch() + 1));
    }

    /** Refuses new connections (the port is closed) until {@link #acceptConnections()}; open ones carry on. */
    public void refuseConnections() {
        lock.lock();
        try {
            faults = new Faults(faults.latency(), faults.blackholed(), true, faults.epoch() + 1);
            closeListener();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Accepts new connections again, on the same port.
     *
     * @throws UncheckedIOException if the port cannot be bound again (another process took it meanwhile)
     */
    public void acceptConnections() {
        lock.lock();
        try {
            faults = new Faults(faults.latency(), faults.blackholed(), false, faults.epoch() + 1);
            reopen();
        } finally {
            lock.unlock();
        }
    }

    /**
     * A server's crash and return: every open connection reset, new ones refused for {@code down}, then accepted
     * again (on their own, unless another fault method runs first). Returns at once.
     */
    public void restart(Duration down) {
        requirePositive(down, "a restart's down time");
        long epoch;
        lock.lock();
        try {
            faults = new Faults(faults.latency(), faults.blackholed(), true, faults.epoch() + 1);
            epoch = faults.epoch();
            closeListener();
        } finally {
            lock.unlock();
        }
        dropConnections(Drop.RESET);
        later(down, epoch, this::acceptConnections);
    }

    /** Stops accepting, resets every open connection, and stops the timer. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            faults = new Faults(Duration.ZERO, false, true, faults.epoch() + 1);
            closeListener();
        } finally {
            lock.unlock();
        }
        dropConnections(Drop.RESET);
        timer.shutdownNow();
    }

    @Override
    public String toString() {
        Faults f = faults;
        return "ChaosProxy[127.0.0.1:" + port + " -> " + target.getHostString() + ":" + target.getPort() + ", latency "
                + f.latency() + (f.blackholed() ? ", blackholed" : "") + (f.refusing() ? ", refusing" : "") + ", "
                + pipes.size() + " pipes]";
    }

    // ---- the fault settings ----

    private Faults change(java.util.function.UnaryOperator<Faults> how) {
        lock.lock();
        try {
            Faults next = how.apply(faults);
            faults = next;
            changed.signalAll();
            return next;
        } finally {
            lock.unlock();
        }
    }

    /** Runs a timed fault's end after the delay, if no fault method ran since the epoch. */
    private void later(Duration delay, long epoch, Runnable end) {
        try {
            timer.schedule(
                    () -> {
                        lock.lock();
                        try {
                            if (closed || faults.epoch() != epoch) {
                                return;
                            }
                        } finally {
                            lock.unlock();
                        }
                        end.run();
                    },
                    delay.toNanos(),
                    TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closed meanwhile: nothing to end
        }
    }

    private static void requirePositive(Duration d, String what) {
        Objects.requireNonNull(d, what);
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be more than zero but was " + d);
        }
    }

    /**
     * Waits before forwarding a chunk read at {@code readAt} (nanos): while a blackhole holds the link, and until
     * the latency has passed. Returns false if the pipe ended meanwhile. Called by pumps.
     */
    private boolean hold(Pipe pipe, long readAt) throws InterruptedException {
        lock.lock();
        try {
            while (!pipe.ended) {
                Faults f = faults;
                if (f.blackholed()) {
                    changed.await();
                    continue;
                }
                long wait = readAt + f.latency().toNanos() - System.nanoTime();
                if (wait <= 0) {
                    return true;
                }
                changed.awaitNanos(wait);
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    // ---- accepting ----

    private static ServerSocket bind(int port) throws IOException {
        ServerSocket s = new ServerSocket();
        try {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 128);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }

    /**
     * Closes the listening socket and waits for its acceptor to leave: a socket that a thread blocks on is only
     * closed for good when the thread leaves it, and until then it would still take connections. Called under the
     * lock (the acceptor never takes it).
     */
    private void closeListener() {
        if (listener != null) {
            quietly(listener);
            listener = null;
            boolean interrupted = false;
            while (acceptor.isAlive()) {
                try {
                    acceptor.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            acceptor = null;
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Binds the port again if no socket listens; called under the lock. */
    private void reopen() {
        if (closed || listener != null) {
            return;
        }
        try {
            listener = bind(port);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind port " + port + " again to accept connections", e);
        }
        startAcceptor(listener);
    }

    /** Called under the lock. */
    private void startAcceptor(ServerSocket socket) {
        acceptor = Thread.ofVirtual().name("chaos-proxy-accept").start(() -> acceptLoop(socket));
    }

    private void acceptLoop(ServerSocket socket) {
        while (!socket.isClosed()) {
            Socket client;
            try {
                client = socket.accept();
            } catch (IOException e) {
                return; // closed: refusing, restarting or closing
            }
            accepted.incrementAndGet();
            // Live from now, so that a drop or a restart that comes before the target answers still ends it.
            // (close() ends it after this thread left.)
            Pipe pipe = new Pipe(client, new Socket());
            pipes.add(pipe);
            Thread.ofVirtual().name("chaos-proxy-connect").start(() -> open(pipe));
        }
    }

    /** Connects a pipe's client to the target and starts its pumps; resets the client if the target is away. */
    private void open(Pipe pipe) {
        try {
            pipe.client.setTcpNoDelay(true);
            pipe.server.setTcpNoDelay(true);
            pipe.server.connect(target, Math.toIntExact(connectTimeout.toMillis()));
        } catch (IOException e) {
            pipe.end(Drop.RESET);
            pipes.remove(pipe);
            return;
        }
        pipe.start();
    }

    private static void reset(Socket s) {
        try {
            s.setSoLinger(true, 0);
        } catch (SocketException ignored) {
            // closed already
        }
        quietly(s);
    }

    private static void quietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // ending anyway
        }
    }

    /** One client's connection and its connection to the target, with a pump each way. */
    private final class Pipe {
        private final Socket client;
        private final Socket server;
        /** Pumps still running; the last to end removes the pipe. */
        private final java.util.concurrent.atomic.AtomicInteger running =
                new java.util.concurrent.atomic.AtomicInteger(2);

        volatile boolean ended;

        Pipe(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }

        void start() {
            Thread.ofVirtual().name("chaos-proxy-pump").start(() -> pump(client, server));
            Thread.ofVirtual().name("chaos-proxy-pump").start(() -> pump(server, client));
        }

        /** Ends both sides; any thread. */
        void end(Drop how) {
            ended = true;
            if (how == Drop.RESET) {
                reset(client);
                reset(server);
            } else {
                quietly(client);
                quietly(server);
            }
            lock.lock();
            try {
                changed.signalAll(); // a pump holding a chunk of this pipe leaves
            } finally {
                lock.unlock();
            }
        }

        /** Copies one direction, chunk by chunk, through the faults; passes an end of stream on as a half-close. */
        private void pump(Socket from, Socket to) {
            byte[] buffer = new byte[CHUNK_BYTES];
            boolean clean = false;
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                while (true) {
                    int n = in.read(buffer);
                    if (n < 0) {
                        if (hold(this, System.nanoTime())) {
                            to.shutdownOutput();
                            clean = true;
                        }
                        return;
                    }
                    if (!hold(this, System.nanoTime())) {
                        return;
                    }
                    out.write(buffer, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // a side reset or was dropped: the pipe ends below
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (!clean) {
                    // One side failed: the other must not wait for a peer that is gone.
                    end(Drop.RESET);
                }
                if (running.decrementAndGet() == 0) {
                    end(Drop.CLOSE);
                    pipes.remove(this);
                }
            }
        }
    }

    /** Settings of a {@link ChaosProxy}. */
    public static final class Builder {
        private String targetHost;
        private int targetPort;
        private int listenPort;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;

        private Builder() {}

        /** Where connections go (required). */
        public Builder target(String host, int port) {
            Objects.requireNonNull(host, "host");
            if (port < 1 || port > 65_535) {
                throw new IllegalArgumentException("the target port must be between 1 and 65535 but was " + port);
            }
            this.targetHost = host;
            this.targetPort = port;
            return this;
        }

        /**
         * The loopback port to listen on; 0 (the default) takes a free one. Choose one when the target must know the
         * proxy's address before the proxy starts (a Kafka broker advertising it, say).
         */
        public Builder listenPort(int port) {
            if (port < 0 || port > 65_535) {
                throw new IllegalArgumentException("the listen port must be between 0 and 65535 but was " + port);
            }
            this.listenPort = port;
            return this;
        }

        /** How long connecting to the target may take; the default is {@link #DEFAULT_CONNECT_TIMEOUT}. */
        public Builder connectTimeout(Duration timeout) {
            requirePositive(timeout, "the connect timeout");
            this.connectTimeout = timeout;
            return this;
        }

        /**
         * Binds the port and starts accepting.
         *
         * @throws UncheckedIOException if the port cannot be bound
         */
        public ChaosProxy build() {
            if (targetHost == null) {
                throw new IllegalStateException("a proxy needs a target: call target(host, port) before build()");
            }
            try {
                return new ChaosProxy(this);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot listen on 127.0.0.1:" + listenPort + ": " + e.getMessage(), e);
            }
        }
    }
}
