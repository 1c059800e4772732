package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The headers that keep browsers from misusing the server's answers, on the dashboard and on the API. */
class SecurityHeadersTest {
    private static final String TOKEN = "admin-token-0123456789";

    private KeelServer server;
    private Requests requests;

    @BeforeEach
    void start() {
        server = KeelServer.builder(Keel.builder().build().start())
                .port(0)
                .tokens(List.of(
                        new AccessToken(TOKEN, "acme", Set.of(AccessToken.Scope.ADMIN, AccessToken.Scope.PRODUCE))))
                .allowPrivateWebhookTargets(true)
                .build()
                .start();
        requests = new Requests(server);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private static void assertBrowserHeaders(HttpResponse<?> r) {
        assertThat(r.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
        assertThat(r.headers().firstValue("Referrer-Policy")).hasValue("no-referrer");
        assertThat(r.headers().firstValue("X-Frame-Options")).hasValue("DENY");
        assertThat(r.headers().firstValue("Content-Security-Policy"))
                .hasValueSatisfying(p -> assertThat(p).contains("frame-ancestors 'none'"));
    }

    private static String sha256(String text) throws Exception {
        return Base64.getEncoder()
                .encodeToString(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void shouldLetTheDashboardRunOnlyItsOwnScriptAndStyle() throws Exception {
        HttpResponse<String> page = requests.send("GET", "/", null, null);

        assertThat(page.statusCode()).isEqualTo(200);
        assertBrowserHeaders(page);
        String policy = page.headers().firstValue("Content-Security-Policy").orElseThrow();
        assertThat(policy)
                .doesNotContain("unsafe-inline")
                .doesNotContain("unsafe-eval")
                .contains("default-src 'none'")
                .contains("connect-src 'self'");
        Matcher blocks =
                Pattern.compile("<(script|style)>(.*?)</\\1>", Pattern.DOTALL).matcher(page.body());
        int found = 0;
        while (blocks.find()) {
            assertThat(policy).contains(blocks.group(1) + "-src 'sha256-" + sha256(blocks.group(2)) + "'");
            found++;
        }
        assertThat(found).isEqualTo(2);
    }

    @Test
    void shouldSendTheHeadersOnApiAnswersAndProblems() throws Exception {
        HttpResponse<String> unauthorized = requests.send("GET", "/v1/subscriptions", null, null);
        HttpResponse<String> missing = requests.send("GET", "/no/such/page", null, null);
        HttpResponse<String> health = requests.send("GET", "/health/live", null, null);

        assertThat(unauthorized.statusCode()).isEqualTo(401);
        assertThat(missing.statusCode()).isEqualTo(404);
        for (HttpResponse<String> r : List.of(unauthorized, missing, health)) {
            assertBrowserHeaders(r);
            assertThat(r.headers().firstValue("Content-Security-Policy")).hasValue(SecurityHeaders.API_POLICY);
        }
    }

    @Test
    void shouldForbidCachingAnswersThatCarrySecrets() throws Exception {
        HttpResponse<String> created = requests.send(
                "PUT",
                "/v1/subscriptions/hook",
                "application/json",
                "{\"types\":[\"order.*\"],\"webhook\":{\"url\":\"http://127.0.0.1:9/hook\"}}",
                "Authorization",
                "Bearer " + TOKEN);
        HttpResponse<String> rotated = requests.send(
                "POST",
                "/v1/subscriptions/hook/rotate-secret",
                "application/json",
                "{}",
                "Authorization",
                "Bearer " + TOKEN);

        assertThat(created.statusCode()).isEqualTo(201);
        assertThat(created.body()).contains("whsec_");
        assertThat(rotated.statusCode()).isEqualTo(200);
        for (HttpResponse<String> r : List.of(created, rotated)) {
            assertThat(r.headers().firstValue("Cache-Control")).hasValue("no-store");
            assertBrowserHeaders(r);
        }
    }
}
