package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.server.AccessToken;
import dev.keel.server.KeelServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `keel emit` and `keel stats` against a running server. */
class ClientCommandsTest {
    private static final String TOKEN = "cli-token-0123456789";

    private final List<Event<?>> delivered = new CopyOnWriteArrayList<>();
    private KeelServer server;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void start() {
        Keel keel = Keel.builder().build();
        keel.subscribe(Subscription.builder("seen")
                .types("order.*")
                .handler(Object.class, d -> delivered.add(d.event()))
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(
                        new AccessToken(TOKEN, "acme", Set.of(AccessToken.Scope.PRODUCE, AccessToken.Scope.ADMIN))))
                .build()
                .start();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private int run(String... args) {
        CommandLine cli = KeelCommand.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    private String url() {
        return "http://127.0.0.1:" + server.port();
    }

    @Test
    void shouldEmitAnEventAndPrintItsId() {
        int code = run(
                "emit",
                "--url",
                url(),
                "--token",
                TOKEN,
                "--type",
                "order.created",
                "--key",
                "o-1",
                "--id",
                "cli-1",
                "--data",
                "{\"cents\":1250}");
        assertThat(code).as(err.toString()).isZero();
        assertThat(out.toString().trim()).isEqualTo("cli-1");
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 1);
        assertThat(delivered.getFirst().partitionKey()).isEqualTo("o-1");
        assertThat(delivered.getFirst().tenant()).isEqualTo("acme");

        assertThat(run("stats", "--url", url(), "--token", TOKEN)).isZero();
        assertThat(out.toString()).contains("\"emitted\" : 1");
    }

    @Test
    void shouldSayInOneLineWhatWentWrong() {
        assertThat(run("emit", "--url", url(), "--type", "order.created")).isEqualTo(1);
        assertThat(err.toString())
                .startsWith("keel emit: 401")
                .contains("Bearer")
                .doesNotContain("\tat ");
        err.getBuffer().setLength(0);
        assertThat(run("emit", "--url", url(), "--token", TOKEN, "--type", "Order Created"))
                .isEqualTo(1);
        assertThat(err.toString()).contains("400").contains("Order Created");
        err.getBuffer().setLength(0);
        assertThat(run("stats", "--url", "http://127.0.0.1:1", "--token", TOKEN))
                .isEqualTo(1);
        assertThat(err.toString()).contains("cannot reach http://127.0.0.1:1");
    }
}
