package dev.keel.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.sun.net.httpserver.HttpServer;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.KeelServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operations pack in {@code ops/} against a running server: every series the Grafana dashboard and the
 * Prometheus alert rules query is one that {@code /metrics} serves, once traffic has made the meters exist (an
 * ingest, a Java and a webhook delivery, a dead letter, a refused emit). The server meters into the registry
 * {@code keel serve} builds, so the delivery-time histogram the percentiles need is there as in production.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpsPackTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path OPS = Path.of("..", "ops");
    private static final Path DEPLOYMENT_DOC = Path.of("..", "docs", "deployment.md");
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** A sample line of the exposition format: its series name first. */
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{.*})? .*$");
    /** Names of series in PromQL, once string literals are removed: Keel's, the JVM's, the process's, HTTP. */
    private static final Pattern SERIES = Pattern.compile("\\b((?:keel|jvm|process|http|system)_[a-zA-Z0-9_:]+)");

    private HttpServer receiver;
    private Keel keel;
    private KeelServer server;
    private final AtomicInteger audited = new AtomicInteger();
    private final HttpClient http = HttpClient.newHttpClient();
    private String scrape;

    @BeforeAll
    void startServerAndDriveTraffic(@TempDir Path dir) throws Exception {
        // A webhook receiver on loopback: 204 for every event, 410 (permanent: dead-lettered at once) for "gone".
        receiver = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        receiver.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        receiver.createContext("/", exchange -> {
            try (exchange) {
                String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(body.contains("\"gone\"") ? 410 : 204, -1);
            }
        });
        receiver.start();

        PrometheusMeterRegistry prometheus = ServeMeters.registry();
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .lanes(4)
                .meterRegistry(prometheus)
                .build();
        keel.subscribe(Subscription.builder("audit")
                .types("order.**")
                .handler(Object.class, d -> audited.incrementAndGet())
                .build());
        server = KeelServer.builder(keel)
                .prometheus(prometheus)
                .port(0)
                .allowPrivateWebhookTargets(true)
                .build();
        keel.start();
        server.start();

        HttpResponse<String> put = send(
                "PUT",
                "/v1/subscriptions/billing",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:"
                        + receiver.getAddress().getPort() + "/hook\"},"
                        + "\"retry\":{\"maxAttempts\":2,\"initialDelay\":\"10ms\",\"jitter\":0}}");
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
        for (String id : List.of("fine", "gone")) {
            HttpResponse<String> post = send(
                    "POST",
                    "/v1/events",
                    "application/cloudevents+json",
                    "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"order.created\","
                            + "\"partitionkey\":\"" + id + "\",\"data\":{\"id\":\"" + id + "\"}}");
            assertThat(post.statusCode()).as(post.body()).isEqualTo(202);
        }
        // A refused emit, so the rejections counter has a series.
        assertThatThrownBy(() -> keel.emit("Not A Type!", "x")).isInstanceOf(InvalidEventException.class);

        await().atMost(WAIT).until(() -> audited.get() == 2 && deadLetters() == 1);
        // The garbage collector's pauses are a series from the first collection on: have one.
        System.gc();
        await().atMost(WAIT).until(() -> {
            HttpResponse<String> metrics = send("GET", "/metrics", null, null);
            assertThat(metrics.statusCode()).isEqualTo(200);
            scrape = metrics.body();
            return scrape.contains("jvm_gc_pause_seconds_count");
        });
        // Kept beside the test reports: what the server served when a query names a series it does not.
        Files.writeString(Path.of("target", "ops-pack-metrics.txt"), scrape);
    }

    @AfterAll
    void stop() {
        if (server != null) {
            server.close();
        }
        if (receiver != null) {
            receiver.stop(0);
        }
    }

    @Test
    void shouldServeEverySeriesTheDashboardQueries() throws Exception {
        JsonNode dashboard = dashboard();
        List<String> expressions = new ArrayList<>();
        collectQueries(dashboard, expressions);
        assertThat(expressions).as("the dashboard's queries").hasSizeGreaterThan(10);

        assertThat(unserved(expressions))
                .as("series the dashboard queries that /metrics does not serve")
                .isEmpty();
    }

    @Test
    void shouldServeEverySeriesTheAlertRulesQuery() throws Exception {
        List<String> expressions = new ArrayList<>();
        for (JsonNode rule : alertRules()) {
            expressions.add(rule.get("expr").asText());
        }
        assertThat(expressions).as("the alert rules' expressions").hasSizeGreaterThanOrEqualTo(6);

        assertThat(unserved(expressions))
                .as("series the alert rules query that /metrics does not serve")
                .isEmpty();
    }

    @Test
    void shouldGiveEveryAlertASummaryADescriptionAndARunbookSectionThatExists() throws Exception {
        Set<String> anchors = headingAnchors(Files.readString(DEPLOYMENT_DOC));
        Set<String> alerts = new TreeSet<>();
        for (JsonNode rule : alertRules()) {
            String name = rule.get("alert").asText();
            alerts.add(name);
            JsonNode annotations = rule.get("annotations");
            assertThat(annotations).as(name + " has no annotations").isNotNull();
            assertThat(annotations.path("summary").asText())
                    .as(name + " summary")
                    .isNotBlank();
            assertThat(annotations.path("description").asText())
                    .as(name + " description")
                    .isNotBlank();
            assertThat(rule.path("labels").path("severity").asText())
                    .as(name + " severity")
                    .isIn("warning", "critical");
            String runbook = annotations.path("runbook").asText();
            assertThat(runbook).as(name + " runbook").contains("docs/deployment.md#");
            assertThat(anchors)
                    .as(name + "'s runbook points to a heading of docs/deployment.md")
                    .contains(runbook.substring(runbook.indexOf('#') + 1));
        }
        assertThat(alerts)
                .contains(
                        "KeelInstanceDown",
                        "KeelLagGrowing",
                        "KeelDeadLettersRising",
                        "KeelCircuitOpen",
                        "KeelIngestErrors",
                        "KeelJournalFailing");
    }

    @Test
    void shouldTakeItsDataSourceFromAVariable() throws Exception {
        JsonNode dashboard = dashboard();
        JsonNode variable = null;
        for (JsonNode v : dashboard.path("templating").path("list")) {
            if (v.path("type").asText().equals("datasource")) {
                variable = v;
            }
        }
        assertThat(variable).as("a data source variable").isNotNull();
        assertThat(variable.path("query").asText()).isEqualTo("prometheus");
        String reference = "${" + variable.path("name").asText() + "}";
        List<JsonNode> panels = new ArrayList<>();
        dashboard.path("panels").forEach(panels::add);
        assertThat(panels).hasSizeGreaterThan(8);
        for (JsonNode panel : panels) {
            if (panel.path("type").asText().equals("row")) {
                continue;
            }
            assertThat(panel.path("datasource").path("uid").asText())
                    .as("the data source of panel '" + panel.path("title").asText() + "'")
                    .isEqualTo(reference);
        }
    }

    /** The names in the expressions that are not series of the scrape. */
    private Set<String> unserved(List<String> expressions) {
        Set<String> served = new TreeSet<>();
        for (String line : scrape.split("\n")) {
            Matcher m = SAMPLE.matcher(line);
            if (!line.startsWith("#") && m.matches()) {
                served.add(m.group(1));
            }
        }
        Set<String> named = new TreeSet<>();
        for (String expression : expressions) {
            // Label values ("dead_letter", regular expressions) are strings, not series.
            Matcher m = SERIES.matcher(expression.replaceAll("\"(?:[^\"\\\\]|\\\\.)*\"", "\"\""));
            while (m.find()) {
                named.add(m.group(1));
            }
        }
        assertThat(named).as("series named in " + expressions).isNotEmpty();
        return named.stream().filter(n -> !served.contains(n)).collect(Collectors.toCollection(TreeSet::new));
    }

    /** The dashboard, which must parse as JSON. */
    private static JsonNode dashboard() throws IOException {
        return JSON.readTree(
                OPS.resolve("grafana").resolve("keel-dashboard.json").toFile());
    }

    /** Every rule of every group of the alert rules file. */
    private static List<JsonNode> alertRules() throws IOException {
        JsonNode file = new YAMLMapper()
                .readTree(OPS.resolve("prometheus").resolve("keel-alerts.yml").toFile());
        List<JsonNode> rules = new ArrayList<>();
        for (JsonNode group : file.path("groups")) {
            group.path("rules").forEach(rules::add);
        }
        assertThat(rules).as("alert rules").isNotEmpty();
        return rules;
    }

    /** The PromQL of the panels' targets and of the query variables. */
    private static void collectQueries(JsonNode node, List<String> into) {
        if (node.isObject()) {
            JsonNode expr = node.get("expr");
            if (expr != null && expr.isTextual()) {
                into.add(expr.asText());
            }
            if (node.path("type").asText().equals("query")) {
                JsonNode query = node.get("query");
                into.add(
                        query.isTextual() ? query.asText() : query.path("query").asText());
            }
            node.forEach(child -> collectQueries(child, into));
        } else if (node.isArray()) {
            node.forEach(child -> collectQueries(child, into));
        }
    }

    /** The anchors GitHub gives the Markdown headings: lower case, punctuation dropped, spaces as hyphens. */
    private static Set<String> headingAnchors(String markdown) {
        Set<String> anchors = new TreeSet<>();
        for (String line : markdown.split("\n")) {
            if (line.startsWith("#")) {
                String title = line.replaceFirst("^#+\\s*", "").trim().toLowerCase(Locale.ROOT);
                anchors.add(title.replaceAll("[^a-z0-9 _-]", "").replace(' ', '-'));
            }
        }
        return anchors;
    }

    private long deadLetters() throws Exception {
        return JSON.readTree(send("GET", "/v1/dead-letters", null, null).body())
                .path("items")
                .size();
    }

    private HttpResponse<String> send(String method, String path, String contentType, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .method(
                        method,
                        body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
