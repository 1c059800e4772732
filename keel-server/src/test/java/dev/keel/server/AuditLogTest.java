package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Keel;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.server.AccessToken.Scope;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The audit log: every admin action, refused ones included, with who, what, where and the outcome; per tenant. */
class AuditLogTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ACME = "acme-admin-token-0123456789";
    private static final String GLOBEX = "globex-admin-token-0123456789";
    private static final String GLOBEX_PRODUCER = "globex-producer-token-0123456789";
    private static final String SECRET = secret();

    @TempDir
    Path dir;

    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
    private Keel keel;
    private KeelServer server;
    private Requests requests;

    private void start(boolean withTokens, boolean trustProxy) {
        keel = Keel.builder()
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .meterRegistry(meters)
                .lanes(2)
                .build()
                .start();
        KeelServer.Builder b = KeelServer.builder(keel).port(0).trustProxy(trustProxy);
        if (withTokens) {
            b.tokens(List.of(
                            new AccessToken(ACME, "acme", Set.of(Scope.ADMIN)),
                            new AccessToken(GLOBEX, "globex", Set.of(Scope.ADMIN)),
                            new AccessToken(GLOBEX_PRODUCER, "globex", Set.of(Scope.PRODUCE))))
                    .allowPrivateWebhookTargets(true);
        }
        server = b.build().start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static String secret() {
        byte[] key = new byte[32];
        Arrays.fill(key, (byte) 7);
        return "whsec_" + Base64.getEncoder().encodeToString(key);
    }

    private HttpResponse<String> send(String method, String path, String token, String body, String... headers)
            throws Exception {
        List<String> all = new ArrayList<>(List.of(headers));
        if (token != null) {
            all.addAll(List.of("Authorization", "Bearer " + token));
        }
        return requests.send(method, path, "application/json", body, all.toArray(String[]::new));
    }

    private int status(String method, String path, String token, String body, String... headers) throws Exception {
        return send(method, path, token, body, headers).statusCode();
    }

    /** Every entry the token sees, page by page (pages of {@code limit}), newest first, with the raw pages. */
    private List<JsonNode> audit(String token, String query, int limit, StringBuilder raw) throws Exception {
        List<JsonNode> all = new ArrayList<>();
        String cursor = null;
        do {
            String path = "/v1/audit?limit=" + limit + (query.isEmpty() ? "" : "&" + query)
                    + (cursor == null ? "" : "&cursor=" + URLEncoder.encode(cursor, StandardCharsets.UTF_8));
            HttpResponse<String> r = send("GET", path, token, null);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            raw.append(r.body());
            JsonNode page = JSON.readTree(r.body());
            page.get("items").forEach(all::add);
            assertThat(page.get("items").size()).isLessThanOrEqualTo(limit);
            cursor = page.get("next").isNull() ? null : page.get("next").asText();
        } while (cursor != null);
        return all;
    }

    private static List<String> field(List<JsonNode> entries, String name) {
        return entries.stream().map(e -> e.get(name).asText()).toList();
    }

    private static String subscription() {
        return "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:9/hooks\",\"secret\":\"" + SECRET
                + "\"}}";
    }

    @Test
    void shouldRecordEveryAdminActionWithWhoWhatWhereAndOutcomeNewestFirst() throws Exception {
        start(true, true);
        assertThat(status("PUT", "/v1/subscriptions/orders", ACME, subscription()))
                .isEqualTo(201);
        assertThat(status("PUT", "/v1/subscriptions/orders", ACME, subscription()))
                .isEqualTo(200);
        assertThat(status("POST", "/v1/subscriptions/orders/rotate-secret", ACME, "{\"overlap\":\"1h\"}"))
                .isEqualTo(200);
        assertThat(status("PUT", "/v1/subscriptions/bad", ACME, "{\"types\":[]}"))
                .isEqualTo(400);
        assertThat(status("POST", "/v1/dead-letters/reprocess", ACME, "{\"type\":\"order.*\",\"dryRun\":true}"))
                .isEqualTo(200);
        assertThat(status("POST", "/v1/dead-letters/no-such/reprocess", ACME, ""))
                .isEqualTo(404);
        assertThat(status("DELETE", "/v1/dead-letters/no-such", ACME, null)).isEqualTo(404);
        assertThat(status("POST", "/v1/deliveries/orders/0190-e/cancel", ACME, ""))
                .isEqualTo(404);
        assertThat(status(
                        "DELETE",
                        "/v1/subscriptions/orders",
                        ACME,
                        null,
                        "X-Forwarded-For",
                        "203.0.113.9, 198.51.100.4"))
                .isEqualTo(204);

        List<JsonNode> entries = audit(ACME, "", 100, new StringBuilder());

        assertThat(field(entries, "action"))
                .containsExactly(
                        "subscription.delete",
                        "delivery.cancel",
                        "dead-letter.delete",
                        "dead-letter.reprocess",
                        "dead-letter.reprocess-many",
                        "subscription.put",
                        "subscription.rotate-secret",
                        "subscription.replace",
                        "subscription.create");
        assertThat(field(entries, "status"))
                .containsExactly("204", "404", "404", "404", "200", "400", "200", "200", "201");
        assertThat(field(entries, "target"))
                .containsExactly(
                        "orders", "orders/0190-e", "no-such", "no-such", "null", "bad", "orders", "orders", "orders");
        assertThat(field(entries, "actor"))
                .containsOnly(AuditLog.actor(new AccessToken(ACME, "acme", Set.of(Scope.ADMIN))));
        assertThat(field(entries, "actor").getFirst()).startsWith("token:").hasSize(18);
        assertThat(field(entries, "tenant")).containsOnly("acme");
        assertThat(field(entries, "remoteAddress").getFirst()).isEqualTo("198.51.100.4");
        assertThat(field(entries, "remoteAddress").subList(1, entries.size())).containsOnly("127.0.0.1");
        JsonNode create = entries.getLast();
        assertThat(create.get("parameters").get("body").get("types").get(0).asText())
                .isEqualTo("order.*");
        assertThat(create.get("parameters").get("body").get("webhook").has("url"))
                .isTrue();
        assertThat(create.get("parameters").get("body").get("webhook").has("secret"))
                .isFalse();
        assertThat(entries.get(4).get("parameters").get("body").get("dryRun").asBoolean())
                .isTrue();
        assertThat(entries.getFirst().get("at").asText())
                .isGreaterThanOrEqualTo(create.get("at").asText());
    }

    @Test
    void shouldShowATenantItsOwnEntriesOnlyAndRecordRefusalsOfKnownTokens() throws Exception {
        start(true, false);
        assertThat(status("PUT", "/v1/subscriptions/orders", ACME, subscription()))
                .isEqualTo(201);
        assertThat(status("PUT", "/v1/subscriptions/ledger", GLOBEX, subscription()))
                .isEqualTo(201);
        assertThat(status("DELETE", "/v1/subscriptions/ledger", GLOBEX_PRODUCER, null))
                .isEqualTo(403);
        assertThat(status("DELETE", "/v1/subscriptions/ledger", "unknown-token-0123456789", null))
                .isEqualTo(401);
        assertThat(status("GET", "/v1/audit", GLOBEX_PRODUCER, null)).isEqualTo(403);

        List<JsonNode> acme = audit(ACME, "", 100, new StringBuilder());
        List<JsonNode> globex = audit(GLOBEX, "", 100, new StringBuilder());

        assertThat(field(acme, "target")).containsExactly("orders");
        assertThat(field(globex, "action")).containsExactly("subscription.delete", "subscription.create");
        assertThat(field(globex, "status")).containsExactly("403", "201");
        assertThat(field(globex, "actor").getFirst())
                .isEqualTo(AuditLog.actor(new AccessToken(GLOBEX_PRODUCER, "globex", Set.of(Scope.PRODUCE))));
        assertThat(field(globex, "remoteAddress")).containsOnly("127.0.0.1");
    }

    @Test
    void shouldPageWithACursorAndFilterByActionAndTimeWithoutEverShowingASecret() throws Exception {
        start(true, false);
        for (int i = 0; i < 5; i++) {
            assertThat(status("PUT", "/v1/subscriptions/s" + i, ACME, subscription()))
                    .isEqualTo(201);
            assertThat(status("DELETE", "/v1/dead-letters/d" + i, ACME, null)).isEqualTo(404);
        }
        assertThat(status("POST", "/v1/subscriptions/s0/rotate-secret", ACME, "{\"secret\":\"" + SECRET + "\"}"))
                .isEqualTo(200);
        StringBuilder raw = new StringBuilder();

        List<JsonNode> whole = audit(ACME, "", 100, raw);
        List<JsonNode> paged = audit(ACME, "", 3, raw);
        List<JsonNode> creates = audit(ACME, "action=subscription.create", 2, raw);
        String middle = whole.get(5).get("at").asText();
        List<JsonNode> since = audit(ACME, "since=" + middle, 100, raw);
        List<JsonNode> until = audit(ACME, "until=" + middle, 100, raw);

        assertThat(whole).hasSize(11);
        assertThat(field(paged, "id")).containsExactlyElementsOf(field(whole, "id"));
        assertThat(field(creates, "target")).containsExactly("s4", "s3", "s2", "s1", "s0");
        assertThat(since.size() + until.size()).isEqualTo(11);
        assertThat(since).allMatch(e -> e.get("at").asText().compareTo(middle) >= 0);
        assertThat(until).allMatch(e -> e.get("at").asText().compareTo(middle) < 0);
        assertThat(raw.toString())
                .contains("subscription.rotate-secret")
                .doesNotContain(ACME)
                .doesNotContain(SECRET)
                .doesNotContain(SECRET.substring("whsec_".length(), 20));
        HttpResponse<String> badCursor = send("GET", "/v1/audit?cursor=nonsense", ACME, null);
        assertThat(badCursor.statusCode()).isEqualTo(400);
        assertThat(badCursor.body()).contains("cursor");
    }

    @Test
    void shouldRecordOpenModeActionsWithTheConnectionsAddressWhenNoProxyIsTrusted() throws Exception {
        start(false, false);
        assertThat(status("DELETE", "/v1/dead-letters/gone", null, null, "X-Forwarded-For", "203.0.113.9"))
                .isEqualTo(404);

        List<JsonNode> entries = audit(null, "", 10, new StringBuilder());

        assertThat(entries).hasSize(1);
        assertThat(entries.getFirst().get("actor").asText()).isEqualTo(AuditLog.OPEN_MODE);
        assertThat(entries.getFirst().get("tenant").isNull()).isTrue();
        assertThat(entries.getFirst().get("remoteAddress").asText()).isEqualTo("127.0.0.1");
        assertThat(meters.counter("keel.audit.failures").count()).isZero();
    }

    @Test
    void shouldAnswerTheActionWhenItsAuditEntryCannotBeWrittenAndCountTheFailure() throws Exception {
        start(true, false);
        try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("keel.db"));
                Statement s = c.createStatement()) {
            s.execute("DROP TABLE keel_audit");
        }

        assertThat(status("PUT", "/v1/subscriptions/orders", ACME, subscription()))
                .isEqualTo(201);
        assertThat(status("DELETE", "/v1/dead-letters/gone", ACME, null)).isEqualTo(404);

        assertThat(meters.counter("keel.audit.failures").count()).isEqualTo(2);
        assertThat(status("GET", "/v1/subscriptions/orders", ACME, null)).isEqualTo(200);
    }
}
