package dev.keel.redis;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import redis.embedded.core.ExecutableProvider;

/**
 * A real Redis server for tests, on loopback: the {@code redis-server} binary that the embedded-redis artifact
 * ships, run as a child process with its own data directory, so a test can kill it (as a crash would) and start it
 * again on the same port and data.
 */
public final class LocalRedis implements AutoCloseable {
    /** How the server keeps what it is given. */
    public enum Persistence {
        /** Memory only: a restart loses everything. */
        NONE,
        /** The append-only file, synced once a second. */
        AOF_EVERYSEC,
        /** The append-only file, synced before each write is answered. */
        AOF_ALWAYS
    }

    private final File binary;
    private final Path dir;
    private final int port;
    private final Persistence persistence;
    private final List<String> extra;
    private Process process;

    private LocalRedis(File binary, Path dir, int port, Persistence persistence, List<String> extra) {
        this.binary = binary;
        this.dir = dir;
        this.port = port;
        this.persistence = persistence;
        this.extra = extra;
    }

    /** Starts a replica of the primary (memory only), and waits until it has synchronised. */
    public static LocalRedis replicaOf(LocalRedis primary) throws IOException {
        LocalRedis r = new LocalRedis(
                primary.binary,
                Files.createTempDirectory("keel-redis-replica-"),
                freePort(),
                Persistence.NONE,
                List.of("--replicaof", "127.0.0.1", Integer.toString(primary.port)));
        r.launch();
        r.await("MASTER <-> REPLICA sync: Finished with success");
        return r;
    }

    /** Starts a server that keeps nothing on disk. */
    public static LocalRedis start() throws IOException {
        return start(Persistence.NONE);
    }

    /** Starts a server with this persistence, on a free loopback port and a new data directory. */
    public static LocalRedis start(Persistence persistence) throws IOException {
        File binary = ExecutableProvider.newJarResourceProvider().get();
        if (!binary.canExecute() && !binary.setExecutable(true)) {
            throw new IOException("cannot make " + binary + " executable");
        }
        LocalRedis r =
                new LocalRedis(binary, Files.createTempDirectory("keel-redis-"), freePort(), persistence, List.of());
        r.launch();
        return r;
    }

    /** The URL clients connect with. */
    public String url() {
        return "redis://127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    private void launch() throws IOException {
        List<String> cmd = new ArrayList<>(List.of(
                binary.getAbsolutePath(),
                "--bind",
                "127.0.0.1",
                "--port",
                Integer.toString(port),
                "--dir",
                dir.toString(),
                "--save",
                "",
                "--protected-mode",
                "yes"));
        switch (persistence) {
            case NONE -> cmd.addAll(List.of("--appendonly", "no"));
            case AOF_EVERYSEC -> cmd.addAll(List.of("--appendonly", "yes", "--appendfsync", "everysec"));
            case AOF_ALWAYS -> cmd.addAll(List.of("--appendonly", "yes", "--appendfsync", "always"));
        }
        cmd.addAll(extra);
        process = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("redis.log").toFile())
                .start();
        await("Ready to accept connections");
    }

    private void await(String line) throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("redis-server exited at start: " + Files.readString(dir.resolve("redis.log")));
            }
            if (Files.readString(dir.resolve("redis.log")).contains(line)) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while Redis started", e);
            }
        }
        throw new IOException(
                "redis-server did not log '" + line + "' within 20 s: " + Files.readString(dir.resolve("redis.log")));
    }

    /** Kills the server at once (SIGKILL), as a crash or a lost machine would. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    /** Starts it again on the same port and data directory, after {@link #kill}. */
    public void restart() throws IOException {
        launch();
    }

    /** Whether something answers on the port. */
    public boolean listening() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                kill();
            }
        }
    }
}
