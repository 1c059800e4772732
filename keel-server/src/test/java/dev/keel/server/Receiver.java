package dev.keel.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;

/**
 * A real HTTP receiver on loopback for webhook tests. Each request is recorded, then answered by the current
 * behaviour, which tests change to make the receiver misbehave on purpose.
 */
final class Receiver implements AutoCloseable {
    /** How to answer one request; throwing IOException drops the connection without an answer. */
    @FunctionalInterface
    interface Behaviour {
        void answer(HttpExchange exchange, byte[] body) throws Exception;
    }

    /** A request as the receiver saw it. */
    record Call(long atNanos, Map<String, String> headers, String body) {
        String header(String name) {
            return headers.get(name.toLowerCase(java.util.Locale.ROOT));
        }
    }

    static final Behaviour OK = (exchange, body) -> respond(exchange, 204, "");

    private final List<Call> calls = new CopyOnWriteArrayList<>();
    private volatile Behaviour behaviour = OK;
    private HttpServer server;
    private int port;

    Receiver() throws IOException {
        start(0);
    }

    /** Starts listening again on the same port after {@link #down()}. */
    void up() throws IOException {
        start(port);
    }

    /** Stops listening: connections are refused until {@link #up()}. */
    void down() {
        server.stop(0);
    }

    private void start(int onPort) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), onPort), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", exchange -> {
            try (exchange) {
                byte[] body = exchange.getRequestBody().readAllBytes();
                Map<String, String> headers = new java.util.HashMap<>();
                exchange.getRequestHeaders()
                        .forEach((k, v) -> headers.put(k.toLowerCase(java.util.Locale.ROOT), v.getFirst()));
                calls.add(new Call(System.nanoTime(), Map.copyOf(headers), new String(body, StandardCharsets.UTF_8)));
                behaviour.answer(exchange, body);
            } catch (IOException e) {
                throw e;
            } catch (Exception e) {
                throw new IOException(e);
            }
        });
        server.start();
        port = server.getAddress().getPort();
    }

    void behave(Behaviour b) {
        this.behaviour = b;
    }

    String url() {
        return "http://127.0.0.1:" + port + "/hook";
    }

    List<Call> calls() {
        return List.copyOf(calls);
    }

    static void respond(HttpExchange exchange, int status, String body, String... headers) throws IOException {
        for (int i = 0; i < headers.length; i += 2) {
            exchange.getResponseHeaders().add(headers[i], headers[i + 1]);
        }
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            exchange.getResponseBody().write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
