package dev.keel.test.chaos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ChaosProxyTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    private EchoServer echo;
    private ChaosProxy proxy;

    @BeforeEach
    void start() throws IOException {
        echo = new EchoServer();
        proxy = ChaosProxy.to("127.0.0.1", echo.port());
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        echo.close();
    }

    @Test
    void shouldForwardBothWays() throws IOException {
        try (Socket s = connect()) {
            assertThat(roundTrip(s, "hello")).isEqualTo("hello");
            assertThat(roundTrip(s, "again")).isEqualTo("again");
        }
    }

    @Test
    void shouldLeaveNoPipeBehindWhenManyConnectionsOpenAndClose() throws IOException {
        for (int round = 0; round < 10; round++) {
            List<Socket> open = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                Socket s = connect();
                open.add(s);
                assertThat(roundTrip(s, "n" + i)).isEqualTo("n" + i);
            }
            assertThat(proxy.pipes()).isEqualTo(20);
            for (Socket s : open) {
                s.close();
            }
            await().atMost(BOUND).until(() -> proxy.pipes() == 0);
        }
        assertThat(proxy.accepted()).isEqualTo(200);
        await().atMost(BOUND).until(() -> echo.open() == 0);
    }

    @Test
    void shouldResetOpenConnectionsOnDropAndStillAcceptNewOnes() throws IOException {
        Socket before = connect();
        assertThat(roundTrip(before, "a")).isEqualTo("a");

        proxy.dropConnections();

        assertThatThrownBy(() -> before.getInputStream().read()).isInstanceOf(SocketException.class);
        before.close();
        await().atMost(BOUND).until(() -> proxy.pipes() == 0);
        try (Socket after = connect()) {
            assertThat(roundTrip(after, "b")).isEqualTo("b");
        }
    }

    @Test
    void shouldEndOpenConnectionsInOrderOnAClosingDrop() throws IOException {
        try (Socket before = connect()) {
            assertThat(roundTrip(before, "a")).isEqualTo("a");
            proxy.dropConnections(ChaosProxy.Drop.CLOSE);
            assertThat(before.getInputStream().read()).isEqualTo(-1);
        }
        await().atMost(BOUND).until(() -> proxy.pipes() == 0);
    }

    @Test
    void shouldForwardNothingWhileBlackholedAndWhatWaitedAfterTheHeal() throws IOException {
        try (Socket s = connect()) {
            assertThat(roundTrip(s, "a")).isEqualTo("a");
            proxy.blackhole();
            send(s, "held");
            try (Socket late = connect()) { // new connections are accepted, and held too
                send(late, "late");
                await().during(Duration.ofMillis(300))
                        .atMost(BOUND)
                        .until(() -> s.getInputStream().available() == 0
                                && late.getInputStream().available() == 0);
                assertThat(proxy.blackholed()).isTrue();

                proxy.heal();

                assertThat(read(s, 4)).isEqualTo("held");
                assertThat(read(late, 4)).isEqualTo("late");
            }
        }
    }

    @Test
    void shouldHealATimedBlackholeOnItsOwn() throws IOException {
        try (Socket s = connect()) {
            proxy.blackhole(Duration.ofMillis(200));
            send(s, "x");
            await().atMost(BOUND).until(() -> !proxy.blackholed());
            assertThat(read(s, 1)).isEqualTo("x");
        }
    }

    @Test
    void shouldDropAConnectionWhileBlackholedWithoutLeavingItsPipe() throws IOException {
        Socket s = connect();
        assertThat(roundTrip(s, "a")).isEqualTo("a");
        proxy.blackhole();
        send(s, "x");
        proxy.dropConnections();
        s.close();
        await().atMost(BOUND).until(() -> proxy.pipes() == 0);
        proxy.heal();
    }

    @Test
    void shouldRefuseNewConnectionsWhileOpenOnesCarryOn() throws IOException {
        try (Socket open = connect()) {
            // Accepted (one round trip) before the port closes: one still in the listen queue would be reset.
            assertThat(roundTrip(open, "first")).isEqualTo("first");
            proxy.refuseConnections();
            assertThat(proxy.accepting()).isFalse();
            assertThatThrownBy(this::connect).isInstanceOf(SocketException.class);
            assertThat(roundTrip(open, "still")).isEqualTo("still");

            proxy.acceptConnections();

            try (Socket again = connect()) {
                assertThat(roundTrip(again, "back")).isEqualTo("back");
            }
        }
    }

    @Test
    void shouldResetRefuseAndThenAcceptAgainOnARestart() throws IOException {
        Socket before = connect();
        assertThat(roundTrip(before, "a")).isEqualTo("a");

        proxy.restart(Duration.ofSeconds(2));

        assertThatThrownBy(() -> before.getInputStream().read()).isInstanceOf(SocketException.class);
        before.close();
        assertThatThrownBy(this::connect).isInstanceOf(SocketException.class);
        await().atMost(BOUND).until(proxy::accepting);
        try (Socket after = connect()) {
            assertThat(roundTrip(after, "b")).isEqualTo("b");
        }
    }

    @Test
    void shouldHoldEachChunkForTheLatency() throws IOException {
        try (Socket s = connect()) {
            proxy.latency(Duration.ofMillis(100));
            long start = System.nanoTime();
            assertThat(roundTrip(s, "slow")).isEqualTo("slow");
            // At least one latency each way; only a lower bound, which the proxy guarantees.
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(200));
            proxy.latency(Duration.ZERO);
            assertThat(roundTrip(s, "fast")).isEqualTo("fast");
        }
    }

    @Test
    void shouldResetEveryConnectionAndStopAcceptingOnClose() throws IOException {
        Socket open = connect();
        proxy.close();
        assertThatThrownBy(() -> open.getInputStream().read()).isInstanceOf(SocketException.class);
        open.close();
        assertThatThrownBy(this::connect).isInstanceOf(SocketException.class);
        await().atMost(BOUND).until(() -> proxy.pipes() == 0);
    }

    @Test
    void shouldResetAClientWhenTheTargetIsAway() throws IOException {
        echo.close();
        // The reset may come as the connection is made, as the byte is written, or as the answer is read.
        assertThatThrownBy(() -> {
                    try (Socket s = connect()) {
                        s.getOutputStream().write('x');
                        // a reset shows as an error, an orderly close as the end of the stream
                        if (s.getInputStream().read() == -1) {
                            throw new SocketException("closed");
                        }
                    }
                })
                .isInstanceOf(SocketException.class);
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.pipes() == 0);
    }

    @Test
    void shouldSayWhatIsWrongWithItsSettings() {
        assertThatThrownBy(() -> ChaosProxy.builder().build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("target(host, port)");
        assertThatThrownBy(() -> ChaosProxy.builder().target("127.0.0.1", 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("but was 0");
        assertThatThrownBy(() -> proxy.latency(Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("latency must be zero or more");
        assertThatThrownBy(() -> proxy.restart(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("down time must be more than zero");
    }

    private Socket connect() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(proxy.host(), proxy.port()), 5_000);
        s.setSoTimeout(10_000); // a bound, so that a broken proxy fails a test instead of hanging it
        return s;
    }

    private static String roundTrip(Socket s, String text) throws IOException {
        send(s, text);
        return read(s, text.length());
    }

    private static void send(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }

    private static String read(Socket s, int length) throws IOException {
        return new String(s.getInputStream().readNBytes(length), StandardCharsets.US_ASCII);
    }

    /** Echoes what it reads, a virtual thread per connection. */
    private static final class EchoServer implements AutoCloseable {
        private final ServerSocket socket;
        private final java.util.concurrent.atomic.AtomicInteger open = new java.util.concurrent.atomic.AtomicInteger();

        EchoServer() throws IOException {
            socket = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
            Thread.ofVirtual().start(this::accept);
        }

        int port() {
            return socket.getLocalPort();
        }

        int open() {
            return open.get();
        }

        private void accept() {
            while (true) {
                Socket s;
                try {
                    s = socket.accept();
                } catch (IOException e) {
                    return;
                }
                open.incrementAndGet();
                Thread.ofVirtual().start(() -> {
                    try (s) {
                        s.getInputStream().transferTo(s.getOutputStream());
                    } catch (IOException ignored) {
                        // the peer went away
                    } finally {
                        open.decrementAndGet();
                    }
                });
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
