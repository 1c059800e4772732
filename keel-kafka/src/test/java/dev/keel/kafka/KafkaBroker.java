package dev.keel.kafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Apache Kafka broker in KRaft mode (broker and controller in one process), started in its own JVM from
 * the test class path and bound to loopback. It can be stopped and started again on the same port and data,
 * as a broker restarting under load would be.
 */
public final class KafkaBroker implements AutoCloseable {
    private final Path dir;
    private final int nodeId;
    private final int port;
    /** The port the broker tells clients to connect to: its own, or a proxy's in front of it. */
    private final int advertisedPort;

    private final int controllerPort;
    /** The controller quorum, {@code id@host:port,...}; this node alone for a single broker. */
    private String voters;
    /** How many brokers the cluster has: internal topics are replicated to all of them, up to three. */
    private int clusterSize = 1;

    private Process process;

    private KafkaBroker(Path dir, int nodeId, int port, int controllerPort) {
        this(dir, nodeId, port, port, controllerPort);
    }

    private KafkaBroker(Path dir, int nodeId, int port, int advertisedPort, int controllerPort) {
        this.dir = dir;
        this.nodeId = nodeId;
        this.port = port;
        this.advertisedPort = advertisedPort;
        this.controllerPort = controllerPort;
        this.voters = nodeId + "@127.0.0.1:" + controllerPort;
    }

    /** Formats a fresh data directory and starts the broker; returns once it accepts connections. */
    public static KafkaBroker start() throws IOException, InterruptedException {
        KafkaBroker broker = new KafkaBroker(Files.createTempDirectory("keel-kafka-"), 1, freePort(), freePort());
        broker.format(clusterId());
        broker.launch();
        return broker;
    }

    /**
     * Formats a fresh data directory and starts a broker listening on {@code port} that advertises
     * {@code advertisedPort} on loopback: clients bootstrap there and every later connection goes there too. With a
     * fault-injecting proxy listening on {@code advertisedPort} and forwarding to {@code port} (start it first), all
     * client traffic passes through the proxy. Returns once the broker accepts connections on {@code port}.
     */
    public static KafkaBroker startAdvertising(int port, int advertisedPort) throws IOException, InterruptedException {
        if (port == advertisedPort) {
            throw new IllegalArgumentException("the advertised port must differ from the broker's own: " + port);
        }
        KafkaBroker broker =
                new KafkaBroker(Files.createTempDirectory("keel-kafka-"), 1, port, advertisedPort, freePort());
        broker.format(clusterId());
        broker.launch();
        return broker;
    }

    /** A free loopback port now, for {@link #startAdvertising} and a proxy in front of the broker. */
    public static int freeLoopbackPort() throws IOException {
        return freePort();
    }

    /**
     * A cluster of brokers, each also a controller, in their own JVMs: what a leader change needs. Returns once
     * every broker accepts connections.
     */
    public static List<KafkaBroker> startCluster(int size) throws IOException, InterruptedException {
        List<KafkaBroker> nodes = new ArrayList<>();
        for (int id = 1; id <= size; id++) {
            nodes.add(new KafkaBroker(Files.createTempDirectory("keel-kafka-" + id + "-"), id, freePort(), freePort()));
        }
        String quorum = String.join(
                ",",
                nodes.stream()
                        .map(n -> n.nodeId + "@127.0.0.1:" + n.controllerPort)
                        .toList());
        String cluster = clusterId();
        for (KafkaBroker n : nodes) {
            n.voters = quorum;
            n.clusterSize = size;
            n.format(cluster);
        }
        List<Thread> starting = new ArrayList<>();
        List<Exception> failed = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (KafkaBroker n : nodes) {
            starting.add(Thread.ofPlatform().start(() -> {
                try {
                    n.launch();
                } catch (Exception e) {
                    failed.add(e);
                }
            }));
        }
        for (Thread t : starting) {
            t.join();
        }
        if (!failed.isEmpty()) {
            for (KafkaBroker n : nodes) {
                n.kill();
            }
            throw new IllegalStateException("a broker of the cluster did not start", failed.getFirst());
        }
        return nodes;
    }

    /** This broker's node id. */
    public int nodeId() {
        return nodeId;
    }

    /** The bootstrap servers to give clients: the advertised address (a proxy's, when one stands in front). */
    public String bootstrapServers() {
        return "127.0.0.1:" + advertisedPort;
    }

    /** The port the broker itself listens on. */
    public int port() {
        return port;
    }

    /** Kills the broker at once (SIGKILL), as a crash would. */
    public void kill() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** Starts the broker again on its port and data, after {@link #kill}. */
    public void restart() throws IOException, InterruptedException {
        kill();
        launch();
    }

    @Override
    public void close() throws IOException, InterruptedException {
        kill();
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private void format(String clusterId) throws IOException, InterruptedException {
        Path props = writeProperties();
        Process p = java("kafka.tools.StorageTool", "format", "--cluster-id=" + clusterId, "-c", props.toString())
                .redirectOutput(dir.resolve("format.log").toFile())
                .start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(
                    "the Kafka storage could not be formatted: " + Files.readString(dir.resolve("format.log")));
        }
    }

    private void launch() throws IOException, InterruptedException {
        process = java("kafka.Kafka", dir.resolve("server.properties").toString())
                .redirectOutput(ProcessBuilder.Redirect.appendTo(
                        dir.resolve("broker.log").toFile()))
                .start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("the Kafka broker exited at start: " + tail(dir.resolve("broker.log")));
            }
            try (Socket s = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException notYet) {
                Thread.sleep(100);
            }
        }
        throw new IllegalStateException(
                "the Kafka broker did not listen within 60 s: " + tail(dir.resolve("broker.log")));
    }

    private Path writeProperties() throws IOException {
        String props = String.join(
                "\n",
                "process.roles=broker,controller",
                "node.id=" + nodeId,
                "controller.quorum.voters=" + voters,
                "listeners=PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort,
                "advertised.listeners=PLAINTEXT://127.0.0.1:" + advertisedPort,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "log.dirs=" + dir.resolve("data"),
                "num.partitions=1",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=" + Math.min(3, clusterSize),
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=" + Math.min(3, clusterSize),
                "transaction.state.log.min.isr=" + Math.min(2, clusterSize),
                "min.insync.replicas=" + Math.min(2, clusterSize),
                "unclean.leader.election.enable=false",
                "transaction.state.log.num.partitions=4",
                "group.initial.rebalance.delay.ms=0",
                "log.flush.interval.messages=9223372036854775807",
                "");
        Path file = dir.resolve("server.properties");
        Files.writeString(file, props);
        return file;
    }

    private ProcessBuilder java(String main, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx512m");
        command.add("-XX:+UseSerialGC");
        command.add("-Xshare:off");
        command.add("-Dlogback.configurationFile=" + logbackConfig());
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main);
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true);
    }

    private String logbackConfig() {
        Path file = dir.resolve("logback.xml");
        try {
            if (!Files.exists(file)) {
                Files.writeString(
                        file,
                        "<configuration><appender name=\"OUT\" class=\"ch.qos.logback.core.ConsoleAppender\">"
                                + "<encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{20} - %msg%n</pattern>"
                                + "</encoder></appender><root level=\"WARN\"><appender-ref ref=\"OUT\"/></root>"
                                + "</configuration>");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file.toString();
    }

    private static String clusterId() {
        // A Kafka cluster id: 16 random bytes in URL-safe base64 without padding.
        UUID u = UUID.randomUUID();
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16);
        b.putLong(u.getMostSignificantBits()).putLong(u.getLeastSignificantBits());
        return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(b.array());
    }

    private static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
