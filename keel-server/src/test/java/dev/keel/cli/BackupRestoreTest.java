package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.jdbc.SqliteJournalFile;
import dev.keel.server.KeelServer;
import dev.keel.spi.LogRecord;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code keel backup} and {@code keel restore} against real servers on SQLite journals: a backup under load holds
 * everything acknowledged before it, and a server runs on its restore; every refusal changes nothing.
 */
class BackupRestoreTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int LANES = 4;

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newHttpClient();
    private final List<KeelServer> servers = new ArrayList<>();

    @AfterEach
    void stopServers() {
        servers.forEach(KeelServer::close);
    }

    /** A server on the journal in {@code dataDir}: "audit" takes every order, "ledger" dead-letters every payment. */
    private KeelServer serve(Path dataDir, List<String> audited) {
        return serveWith(dataDir, audited).server();
    }

    private record Running(Keel keel, KeelServer server) {}

    private Running serveWith(Path dataDir, List<String> audited) {
        Keel keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dataDir.resolve("keel.db")))
                .lanes(LANES)
                .retention(Duration.ofHours(1)) // as keel serve does, so delivered events stay to be compared
                .build();
        keel.subscribe(Subscription.builder("audit")
                .types("order.**")
                .handler(Object.class, d -> audited.add(d.event().id()))
                .build());
        keel.subscribe(Subscription.builder("ledger")
                .types("payment.*")
                .retry(RetryPolicy.builder().maxAttempts(1).build())
                .handler(Object.class, d -> {
                    throw new IOException("ledger down for " + d.event().id());
                })
                .build());
        keel.start();
        KeelServer server = KeelServer.builder(keel).port(0).build().start();
        servers.add(server);
        return new Running(keel, server);
    }

    private HttpResponse<String> send(KeelServer server, String method, String path, String body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            request.header("Content-Type", "application/cloudevents+json");
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> emit(KeelServer server, String id, String type, String key) throws Exception {
        return send(
                server,
                "POST",
                "/v1/events",
                "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"" + type
                        + "\",\"partitionkey\":\"" + key + "\",\"data\":{\"n\":1}}");
    }

    private record Run(int code, String out, String err) {}

    private static Run keel(Map<String, String> environment, String... args) {
        CommandLine cli = KeelCommand.commandLine();
        if (environment != null) {
            ((BackupCommand) cli.getSubcommands().get("backup").getCommand()).environment = environment;
            ((RestoreCommand) cli.getSubcommands().get("restore").getCommand()).environment = environment;
        }
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static Run keel(String... args) {
        return keel(Map.of(), args);
    }

    /** The ids of every event in a journal's log, lane by lane. */
    private static Set<String> eventIds(JdbcJournal journal) {
        Set<String> ids = new HashSet<>();
        for (int lane = 0; lane < LANES; lane++) {
            long after = 0;
            List<LogRecord> page;
            while (!(page = journal.read(lane, after, 500)).isEmpty()) {
                page.forEach(r -> ids.add(r.event().id()));
                after = page.getLast().sequence();
            }
        }
        return ids;
    }

    @Test
    void shouldBackUpUnderLoadAndServeFromTheRestoreEveryEventAcknowledgedBeforeIt() throws Exception {
        Path original = dir.resolve("original");
        Running running = serveWith(original, new CopyOnWriteArrayList<>());
        KeelServer server = running.server();
        assertThat(emit(server, "pay-1", "payment.failed", "p-1").statusCode()).isEqualTo(202);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> running.keel().deadLetters().count("ledger") == 1);

        Set<String> acknowledged = ConcurrentHashMap.newKeySet();
        AtomicBoolean loading = new AtomicBoolean(true);
        Thread load = Thread.ofVirtual().start(() -> {
            for (int n = 0; loading.get(); n++) {
                try {
                    if (emit(server, "e-" + n, "order.created", "k-" + n % 16).statusCode() == 202) {
                        acknowledged.add("e-" + n);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> acknowledged.size() >= 300);

        Set<String> beforeBackup = Set.copyOf(acknowledged);
        Path backup = dir.resolve("keel-backup.db");
        Run run = keel("backup", "--data-dir", original.toString(), backup.toString());
        Set<String> byBackupEnd = Set.copyOf(acknowledged);
        int atBackupEnd = byBackupEnd.size();

        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.out()).contains("copied").contains("schema version " + SqliteJournalFile.knownSchemaVersion());
        await().atMost(Duration.ofSeconds(30)).until(() -> acknowledged.size() >= atBackupEnd + 100);
        loading.set(false);
        load.join();
        server.close();

        long[] finalCursors = new long[LANES];
        JdbcJournal stopped = JdbcJournal.sqlite(original.resolve("keel.db"));
        stopped.open(LANES);
        for (int lane = 0; lane < LANES; lane++) {
            finalCursors[lane] = stopped.cursor("audit", lane).orElse(0);
        }
        assertThat(eventIds(stopped)).containsAll(acknowledged);
        stopped.close();

        Path restoredDir = dir.resolve("restored");
        Run restore = keel("restore", "--data-dir", restoredDir.toString(), backup.toString());
        assertThat(restore.code()).as(restore.err()).isZero();
        assertThat(restore.out()).contains("restored").contains("keel serve --data-dir");

        JdbcJournal restored = JdbcJournal.sqlite(restoredDir.resolve("keel.db"));
        restored.open(LANES);
        Set<String> restoredIds = eventIds(restored);
        assertThat(restoredIds).containsAll(beforeBackup);
        // one point in time: nothing acknowledged after the backup had returned is in it
        Set<String> afterBackup = new HashSet<>(acknowledged);
        afterBackup.removeAll(byBackupEnd);
        assertThat(afterBackup).hasSizeGreaterThanOrEqualTo(100);
        assertThat(restoredIds).doesNotContainAnyElementsOf(afterBackup);
        Set<String> owed = new HashSet<>();
        for (int lane = 0; lane < LANES; lane++) {
            long cursor = restored.cursor("audit", lane).orElse(0);
            assertThat(cursor).as("lane %d's cursor", lane).isLessThanOrEqualTo(restored.head(lane));
            assertThat(cursor).as("lane %d's cursor", lane).isLessThanOrEqualTo(finalCursors[lane]);
            restored.read(lane, cursor, Integer.MAX_VALUE)
                    .forEach(r -> owed.add(r.event().id()));
        }
        assertThat(restored.deadLetters(DeadLetterQuery.all().withSubscription("ledger")))
                .singleElement()
                .satisfies(d -> assertThat(d.event().id()).isEqualTo("pay-1"));
        restored.close();

        List<String> audited = new CopyOnWriteArrayList<>();
        KeelServer again = serve(restoredDir, audited);
        JsonNode deadLetters = JSON.readTree(
                        send(again, "GET", "/v1/dead-letters", null).body())
                .get("items");
        assertThat(deadLetters).hasSize(1);
        assertThat(deadLetters.get(0).get("subscription").asText()).isEqualTo("ledger");
        await().atMost(Duration.ofSeconds(30)).until(() -> audited.containsAll(owed));
        assertThat(emit(again, "after-restore", "order.created", "k-1").statusCode())
                .isEqualTo(202);
    }

    /** A journal with a few events and a dead letter, its runtime stopped. */
    private Path journalAtRest(String name) throws Exception {
        Path dataDir = dir.resolve(name);
        KeelServer server = serve(dataDir, new CopyOnWriteArrayList<>());
        for (int i = 0; i < 5; i++) {
            assertThat(emit(server, name + "-" + i, "order.created", "k").statusCode())
                    .isEqualTo(202);
        }
        server.close();
        return dataDir;
    }

    private static byte[] bytes(Path file) throws IOException {
        return Files.readAllBytes(file);
    }

    private static List<String> names(Path dataDir) throws IOException {
        try (Stream<Path> files = Files.list(dataDir)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void shouldRefuseToOverwriteAnExistingBackupUnlessForced() throws Exception {
        Path dataDir = journalAtRest("a");
        Path target = dir.resolve("taken.db");
        Files.writeString(target, "an earlier backup");

        Run refused = keel("backup", "--data-dir", dataDir.toString(), target.toString());

        assertThat(refused.code()).isEqualTo(2);
        assertThat(refused.err()).contains("exists").contains("--force");
        assertThat(Files.readString(target)).isEqualTo("an earlier backup");

        Run forced = keel("backup", "--force", "--data-dir", dataDir.toString(), target.toString());
        assertThat(forced.code()).as(forced.err()).isZero();
        assertThat(new SqliteJournalFile(target).inspect().events()).isEqualTo(5);
    }

    @Test
    void shouldRefuseToRestoreOverAJournalAServerHolds() throws Exception {
        Path dataDir = dir.resolve("live");
        KeelServer server = serve(dataDir, new CopyOnWriteArrayList<>());
        assertThat(emit(server, "live-1", "order.created", "k").statusCode()).isEqualTo(202);
        Path backup = dir.resolve("live-backup.db");
        assertThat(keel("backup", "--data-dir", dataDir.toString(), backup.toString())
                        .code())
                .isZero();
        List<String> filesBefore = names(dataDir);

        Run refused = keel("restore", "--force", "--data-dir", dataDir.toString(), backup.toString());

        assertThat(refused.code()).isEqualTo(2);
        assertThat(refused.err()).contains("a process holds the journal").contains("Stop it");
        assertThat(names(dataDir)).isEqualTo(filesBefore);
        assertThat(emit(server, "live-2", "order.created", "k").statusCode()).isEqualTo(202);
        server.close();
        JdbcJournal journal = JdbcJournal.sqlite(dataDir.resolve("keel.db"));
        journal.open(LANES);
        assertThat(eventIds(journal)).containsExactlyInAnyOrder("live-1", "live-2");
        journal.close();
    }

    @Test
    void shouldRefuseABackupOfANewerSchemaNamingBothVersions() throws Exception {
        Path backup = dir.resolve("future.db");
        assertThat(keel("backup", "--data-dir", journalAtRest("b").toString(), backup.toString())
                        .code())
                .isZero();
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + backup);
                Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO keel_schema_history (installed_rank, version, description, type, script,"
                    + " checksum, installed_by, installed_on, execution_time, success) VALUES (999, '999', 'future',"
                    + " 'SQL', 'V999__future.sql', 0, 'keel', '2030-01-01 00:00:00.000', 0, 1)");
        }
        Path dataDir = journalAtRest("c");
        byte[] journalBefore = bytes(dataDir.resolve("keel.db"));
        List<String> filesBefore = names(dataDir);

        Run refused = keel("restore", "--force", "--data-dir", dataDir.toString(), backup.toString());

        assertThat(refused.code()).isEqualTo(2);
        assertThat(refused.err())
                .contains("schema version 999")
                .contains("up to " + SqliteJournalFile.knownSchemaVersion())
                .contains("newer Keel");
        assertThat(names(dataDir)).isEqualTo(filesBefore);
        assertThat(bytes(dataDir.resolve("keel.db"))).isEqualTo(journalBefore);
    }

    @Test
    void shouldRefuseFilesThatAreNotKeelJournals() throws Exception {
        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "not a database");
        Path foreign = dir.resolve("foreign.db");
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + foreign);
                Statement s = c.createStatement()) {
            s.executeUpdate("CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
        }
        byte[] foreignBefore = bytes(foreign);
        Path dataDir = journalAtRest("d");
        byte[] journalBefore = bytes(dataDir.resolve("keel.db"));
        List<String> filesBefore = names(dataDir);

        Run fromText = keel("restore", "--force", "--data-dir", dataDir.toString(), text.toString());
        Run fromForeign = keel("restore", "--force", "--data-dir", dataDir.toString(), foreign.toString());

        assertThat(fromText.code()).isEqualTo(2);
        assertThat(fromText.err()).contains("is not a SQLite database");
        assertThat(fromForeign.code()).isEqualTo(2);
        assertThat(fromForeign.err()).contains("not a Keel journal");
        assertThat(names(dataDir)).isEqualTo(filesBefore);
        assertThat(bytes(dataDir.resolve("keel.db"))).isEqualTo(journalBefore);

        Path foreignDir = dir.resolve("foreign-dir");
        Files.createDirectories(foreignDir);
        Files.copy(foreign, foreignDir.resolve("keel.db"));
        Path target = dir.resolve("never.db");
        Run backup = keel("backup", "--data-dir", foreignDir.toString(), target.toString());
        assertThat(backup.code()).isEqualTo(2);
        assertThat(backup.err()).contains("not a Keel journal");
        assertThat(target).doesNotExist();
        assertThat(bytes(foreignDir.resolve("keel.db"))).isEqualTo(foreignBefore);
    }

    @Test
    void shouldSendOtherEnginesToTheirOwnTools() {
        Run postgres = keel(
                Map.of("KEEL_STORE", "postgres", "KEEL_JDBC_URL", "jdbc:postgresql://127.0.0.1/keel"),
                "backup",
                dir.resolve("x.db").toString());
        Run redis = keel(
                Map.of("KEEL_STORE", "redis"), "restore", dir.resolve("x.db").toString());

        assertThat(postgres.code()).isEqualTo(2);
        assertThat(postgres.err()).contains("pg_dump -Fc").contains("docs/backup-and-recovery.md");
        assertThat(redis.code()).isEqualTo(2);
        assertThat(redis.err()).contains("docs/backup-and-recovery.md#redis");
        assertThat(dir.resolve("x.db")).doesNotExist();
    }

    @Test
    void shouldRestoreOverAStoppedJournalOnlyWithForceKeepingTheOldOneAside() throws Exception {
        Path backup = dir.resolve("e.db");
        assertThat(keel("backup", "--data-dir", journalAtRest("e").toString(), backup.toString())
                        .code())
                .isZero();
        Path dataDir = journalAtRest("f");
        byte[] journalBefore = bytes(dataDir.resolve("keel.db"));

        Run refused = keel("restore", "--data-dir", dataDir.toString(), backup.toString());
        assertThat(refused.code()).isEqualTo(2);
        assertThat(refused.err()).contains("already at").contains("--force");
        assertThat(bytes(dataDir.resolve("keel.db"))).isEqualTo(journalBefore);

        Run forced = keel("restore", "--force", "--data-dir", dataDir.toString(), backup.toString());
        assertThat(forced.code()).as(forced.err()).isZero();
        assertThat(forced.out()).contains("kept as");
        Path aside;
        try (Stream<Path> files = Files.list(dataDir)) {
            aside = files.filter(f -> f.getFileName().toString().startsWith("keel.db.replaced-"))
                    .filter(f -> !f.toString().endsWith("-wal") && !f.toString().endsWith("-shm"))
                    .findFirst()
                    .orElseThrow();
        }
        assertThat(new SqliteJournalFile(aside).inspect().events()).isEqualTo(5);
        JdbcJournal journal = JdbcJournal.sqlite(dataDir.resolve("keel.db"));
        journal.open(LANES);
        assertThat(eventIds(journal)).allMatch(id -> id.startsWith("e-")).hasSize(5);
        journal.close();
        assertThat(new String(bytes(backup), 0, 15, StandardCharsets.US_ASCII)).isEqualTo("SQLite format 3");
    }
}
