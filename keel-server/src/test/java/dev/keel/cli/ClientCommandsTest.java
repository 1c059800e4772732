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

/** `keel emit`, `stats`, `tail` and `dlq` against a running server. */
class ClientCommandsTest {
    private static final String TOKEN = "cli-token-0123456789";

    private final List<Event<?>> delivered = new CopyOnWriteArrayList<>();
    private final java.util.concurrent.atomic.AtomicBoolean ledgerUp = new java.util.concurrent.atomic.AtomicBoolean();
    private Keel keel;
    private KeelServer server;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void start() {
        keel = Keel.builder().build();
        keel.subscribe(Subscription.builder("seen")
                .types("order.*")
                .handler(Object.class, d -> delivered.add(d.event()))
                .build());
        keel.subscribe(Subscription.builder("ledger")
                .types("payment.*")
                .retry(dev.keel.RetryPolicy.NO_RETRY)
                .handler(Object.class, d -> {
                    if (!ledgerUp.get()) {
                        throw new java.io.IOException("ledger down");
                    }
                })
                .build());
        keel.start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(new AccessToken(
                        TOKEN,
                        "acme",
                        Set.of(AccessToken.Scope.PRODUCE, AccessToken.Scope.CONSUME, AccessToken.Scope.ADMIN))))
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
    void shouldEmitLoadInBatchesWithProgress() {
        int code = run(
                "emit",
                "--url",
                url(),
                "--token",
                TOKEN,
                "--type",
                "order.created",
                "--count",
                "250",
                "--batch",
                "100");
        assertThat(code).as(err.toString()).isZero();
        assertThat(out.toString()).startsWith("emitted 250 events");
        assertThat(err.toString()).contains("emit: 250 of 250");
        await().atMost(Duration.ofSeconds(10)).until(() -> delivered.size() == 250);
        assertThat(delivered.stream().map(Event::id).distinct().count()).isEqualTo(250);
        assertThat(run(
                        "emit",
                        "--url",
                        url(),
                        "--token",
                        TOKEN,
                        "--type",
                        "order.created",
                        "--count",
                        "2",
                        "--id",
                        "x"))
                .isEqualTo(2);
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

    private int openStreams() throws Exception {
        var response = java.net.http.HttpClient.newHttpClient()
                .send(
                        java.net.http.HttpRequest.newBuilder(java.net.URI.create(url() + "/v1/stats"))
                                .header("Authorization", "Bearer " + TOKEN)
                                .build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
        return new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(response.body())
                .get("streams")
                .asInt();
    }

    @Test
    void shouldTailEventsAsTheyArrive() throws Exception {
        Thread producer = Thread.ofVirtual().start(() -> {
            // Once the tail's stream is open (the server counts it), what is emitted is on it.
            await().atMost(Duration.ofSeconds(20)).until(() -> openStreams() == 1);
            for (int i = 0; i < 3; i++) {
                keel.emit(Event.builder("order.created", java.util.Map.of("n", i))
                                .key("k")
                                .tenant("acme")
                                .build())
                        .join();
            }
        });
        int code = run("tail", "--url", url(), "--token", TOKEN, "--types", "order.*", "--count", "3");
        producer.join();
        assertThat(code).as(err.toString()).isZero();
        List<String> lines = out.toString().lines().toList();
        assertThat(lines)
                .hasSize(3)
                .allSatisfy(l -> assertThat(l).contains("order.created").contains("key=k"));
        assertThat(lines.get(0)).contains("{\"n\":0}");
        assertThat(lines.get(2)).contains("{\"n\":2}"); // one key: in order

        out.getBuffer().setLength(0);
        assertThat(run("tail", "--url", url(), "--token", "not-a-known-token-000", "--count", "1"))
                .isEqualTo(1);
        assertThat(err.toString()).contains("keel tail: 401");
    }

    @Test
    void shouldListShowReprocessAndPurgeDeadLetters() {
        for (int i = 0; i < 5; i++) {
            keel.emit(Event.builder("payment.failed", i)
                            .key("p" + i)
                            .tenant("acme")
                            .build())
                    .join();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> keel.deadLetters().count("ledger") == 5);

        assertThat(run("dlq", "ls", "--url", url(), "--token", TOKEN))
                .as(err.toString())
                .isZero();
        List<String> rows = out.toString().lines().toList();
        assertThat(rows.getFirst()).startsWith("ID");
        assertThat(rows).hasSize(6);
        assertThat(rows.get(1)).contains("ledger").contains("payment.failed").contains("ledger down");
        String first = rows.get(1).split("\\s+")[0];
        out.getBuffer().setLength(0);
        assertThat(run("dlq", "ls", "--url", url(), "--token", TOKEN, "--newest", "--limit", "2"))
                .isZero();
        List<String> newest = out.toString().lines().toList();
        assertThat(newest.get(1).split("\\s+")[0]).isEqualTo(rows.get(5).split("\\s+")[0]);
        assertThat(newest.get(2).split("\\s+")[0]).isEqualTo(rows.get(4).split("\\s+")[0]);

        out.getBuffer().setLength(0);
        assertThat(run("dlq", "show", "--url", url(), "--token", TOKEN, first)).isZero();
        assertThat(out.toString()).contains("\"errors\"").contains("java.io.IOException");

        out.getBuffer().setLength(0);
        assertThat(run("dlq", "purge", "--url", url(), "--token", TOKEN, first)).isZero();
        assertThat(keel.deadLetters().count("ledger")).isEqualTo(4);

        out.getBuffer().setLength(0);
        assertThat(run("dlq", "reprocess", "--url", url(), "--token", TOKEN, "--all", "--dry-run"))
                .isZero();
        assertThat(out.toString()).contains("4 dead letters match");
        assertThat(keel.deadLetters().count("ledger")).isEqualTo(4);

        ledgerUp.set(true);
        out.getBuffer().setLength(0);
        // A key whose dead letter is still there: the purged one was whichever the listing showed first.
        String key = keel.deadLetters()
                .list(dev.keel.DeadLetterQuery.all())
                .getFirst()
                .event()
                .partitionKey();
        assertThat(run("dlq", "reprocess", "--url", url(), "--token", TOKEN, "--all", "--key", key))
                .as(err.toString())
                .isZero();
        assertThat(out.toString()).contains("reprocessed 1 of 1");
        await().atMost(Duration.ofSeconds(10)).until(() -> keel.deadLetters().count("ledger") == 3);

        out.getBuffer().setLength(0);
        assertThat(run("dlq", "purge", "--url", url(), "--token", TOKEN, "--all"))
                .isZero();
        assertThat(out.toString()).contains("deleted 3 dead letters");
        assertThat(err.toString()).contains("purge: 3 of 3");
        assertThat(keel.deadLetters().count("ledger")).isZero();

        err.getBuffer().setLength(0);
        assertThat(run("dlq", "purge", "--url", url(), "--token", TOKEN)).isEqualTo(2);
        assertThat(err.toString()).contains("ids, or --all");
    }
}
