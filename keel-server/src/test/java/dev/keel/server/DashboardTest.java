package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import java.io.File;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The dashboard at {@code /}, driven end to end in headless Chromium (the system's chromium and
 * chromedriver; nothing is downloaded): sign in with a token, live rates and lag, circuit states, and a dead
 * letter reprocessed with its button.
 */
class DashboardTest {
    private static final String TOKEN = "dashboard-token-0123456789";
    private static final Duration WAIT = Duration.ofSeconds(20);

    private static ChromeDriver browser;

    private Keel keel;
    private KeelServer server;
    private Receiver receiver;
    private final AtomicBoolean paymentsFixed = new AtomicBoolean();

    @BeforeAll
    static void browser() {
        Path chromium = Path.of("/usr/bin/chromium");
        Path driver = Path.of("/usr/bin/chromedriver");
        if (!Files.isExecutable(chromium) || !Files.isExecutable(driver)) {
            throw new IllegalStateException("the dashboard test needs Debian's chromium and chromium-driver"
                    + " (apt-get install chromium chromium-driver); .ci/run installs them");
        }
        ChromeOptions options = new ChromeOptions()
                .setBinary(chromium.toFile())
                .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(new File(driver.toString()))
                .usingAnyFreePort()
                .build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void closeBrowser() {
        if (browser != null) {
            browser.quit();
        }
    }

    @BeforeEach
    void start() throws Exception {
        receiver = new Receiver();
        receiver.behave((exchange, body) -> {
            boolean payment = new String(body, java.nio.charset.StandardCharsets.UTF_8).contains("payment.");
            Receiver.respond(exchange, payment && !paymentsFixed.get() ? 410 : 204, payment ? "no such account" : "");
        });
        keel = Keel.builder().build().start();
        server = KeelServer.builder(keel)
                .port(0)
                .tokens(List.of(
                        new AccessToken(TOKEN, "acme", Set.of(AccessToken.Scope.ADMIN, AccessToken.Scope.PRODUCE))))
                .allowPrivateWebhookTargets(true) // the receiver is on loopback
                .build()
                .start();
        HttpResponse<String> put = new Requests(server)
                .send(
                        "PUT",
                        "/v1/subscriptions/ledger",
                        "application/json",
                        "{\"types\":[\"order.*\",\"payment.*\"],\"webhook\":{\"url\":\"" + receiver.url() + "\"}}",
                        "Authorization",
                        "Bearer " + TOKEN);
        assertThat(put.statusCode()).as(put.body()).isEqualTo(201);
    }

    @AfterEach
    void stop() {
        server.close();
        receiver.close();
    }

    private void emit(String id, String type) throws Exception {
        HttpResponse<String> r = new Requests(server)
                .send(
                        "POST",
                        "/v1/events",
                        CloudEventReader.STRUCTURED,
                        "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"/shop\",\"type\":\"" + type
                                + "\",\"partitionkey\":\"" + id + "\",\"data\":{}}",
                        "Authorization",
                        "Bearer " + TOKEN);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(202);
    }

    private WebElement visible(String id) {
        return new WebDriverWait(browser, WAIT).until(d -> {
            WebElement e = d.findElement(By.id(id));
            return e.isDisplayed() ? e : null;
        });
    }

    @Test
    void shouldShowLagPerLaneInOpenMode() throws Exception {
        server.close();
        keel = Keel.builder().lanes(4).build();
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        keel.subscribe(dev.keel.Subscription.builder("slow")
                .types("order.*")
                .handler(Object.class, d -> release.await())
                .build());
        keel.start();
        server = KeelServer.builder(keel).port(0).build().start();
        try {
            for (int i = 0; i < 20; i++) {
                keel.emit("order.created", "k" + i, i).join();
            }
            browser.get("http://127.0.0.1:" + server.port() + "/");
            browser.executeScript("sessionStorage.clear()");
            browser.navigate().refresh();
            visible("app");
            assertThat(browser.findElement(By.id("tenant")).getText()).isEqualTo("open development mode");
            WebElement slow = new WebDriverWait(browser, WAIT)
                    .until(d -> d.findElements(By.cssSelector("#subscriptions tr[data-subscription='slow']")).stream()
                            .findFirst()
                            .orElse(null));
            assertThat(slow.findElements(By.cssSelector(".lanes span"))).hasSize(4);
            new WebDriverWait(browser, WAIT)
                    .until(d -> !d.findElement(By.id("lag")).getText().equals("–")
                            && Integer.parseInt(d.findElement(By.id("lag")).getText()) > 0);
            // The admin of the whole runtime sees the journal's appends too, charted.
            new WebDriverWait(browser, WAIT)
                    .until(d -> Boolean.TRUE.equals(browser.executeScript(
                            "const p = document.querySelector(\"#performance tr[data-operation='append'] path.rate\");"
                                    + " return p !== null && p.getAttribute('d').includes('L');")));
            // The deliveries running now are listed, and one can be cancelled: its attempt fails and is retried.
            WebElement cancel = new WebDriverWait(browser, WAIT)
                    .until(d -> d.findElements(By.cssSelector("#running tr button.cancel")).stream()
                            .findFirst()
                            .orElse(null));
            String eventId = cancel.findElement(By.xpath("./ancestor::tr")).getAttribute("data-event-id");
            assertThat(keel.runningDeliveries())
                    .anySatisfy(r -> assertThat(r.eventId()).isEqualTo(eventId));
            cancel.click();
            new WebDriverWait(browser, WAIT)
                    .until(d -> d.findElement(By.id("message")).getText().contains("cancelled: " + eventId));
            org.awaitility.Awaitility.await()
                    .atMost(WAIT)
                    .until(() -> keel.stats().subscription("slow").failedAttempts() >= 1);
        } finally {
            release.countDown();
        }
    }

    @Test
    void shouldSignInShowLiveStateAndReprocessADeadLetter() throws Exception {
        browser.manage().deleteAllCookies();
        browser.get("http://127.0.0.1:" + server.port() + "/");
        browser.executeScript("sessionStorage.clear()");
        browser.navigate().refresh();

        // A wrong token is refused, and the form stays.
        visible("signin");
        browser.findElement(By.id("token")).sendKeys("wrong-token-0123456789");
        browser.findElement(By.cssSelector("#signin-form button")).click();
        new WebDriverWait(browser, WAIT)
                .until(d -> d.findElement(By.id("status")).getText().contains("not known"));
        assertThat(browser.findElement(By.id("app")).isDisplayed()).isFalse();

        WebElement token = browser.findElement(By.id("token"));
        token.clear();
        token.sendKeys(TOKEN);
        browser.findElement(By.cssSelector("#signin-form button")).click();
        visible("app");
        assertThat(browser.findElement(By.id("tenant")).getText()).isEqualTo("tenant acme");

        emit("o-1", "order.created");
        emit("o-2", "order.created");
        emit("p-1", "payment.failed"); // 410: dead-lettered at once

        WebElement row = new WebDriverWait(browser, WAIT)
                .until(d -> d.findElements(By.cssSelector("#dead-letter-rows tr[data-dead-letter]")).stream()
                        .findFirst()
                        .orElse(null));
        assertThat(row.getText())
                .contains("payment.failed")
                .contains("HTTP 410")
                .contains("no such account");
        // What the user named, and what went wrong said once; the list is newest first, as its heading says.
        List<WebElement> cells = row.findElements(By.tagName("td"));
        assertThat(cells.get(1).getText()).isEqualTo("ledger");
        String error = row.findElement(By.cssSelector(".reason")).getText();
        assertThat(error).doesNotContain("PermanentFailureException");
        assertThat(error.indexOf("HTTP 410")).isEqualTo(error.lastIndexOf("HTTP 410"));
        assertThat(browser.findElement(By.xpath("//h2[starts-with(., 'Dead letters')]"))
                        .getText())
                .contains("newest first");
        new WebDriverWait(browser, WAIT)
                .until(d -> d.findElement(By.id("emitted")).getText().equals("3"));
        // The performance monitor charts each operation the tenant may see: its subscription's deliveries, with a
        // line of at least two samples for the rate and one for p95; ingest and append are the whole runtime's.
        // Read in one script: the table is drawn anew at each refresh.
        @SuppressWarnings("unchecked")
        java.util.Map<String, Object> charted = new WebDriverWait(browser, WAIT).until(d -> {
            Object found = browser.executeScript("""
                    for (const tr of document.querySelectorAll("#performance tr[data-operation]")) {
                      const rate = tr.querySelector("svg path.rate");
                      if (rate && rate.getAttribute("d").includes("L")) {
                        return { operation: tr.dataset.operation, label: tr.cells[0].textContent,
                                 p95: tr.querySelector("svg path.p95").getAttribute("d"),
                                 ingest: document.querySelectorAll("#performance tr[data-operation='ingest']").length };
                      }
                    }
                    return null;""");
            return (java.util.Map<String, Object>) found;
        });
        assertThat((String) charted.get("operation")).startsWith("delivery:");
        assertThat(charted.get("label")).isEqualTo("delivery ledger");
        assertThat((String) charted.get("p95")).startsWith("M");
        assertThat(charted.get("ingest")).isEqualTo(0L);
        row = browser.findElement(By.cssSelector("#dead-letter-rows tr[data-dead-letter]"));
        WebElement ledger = browser.findElement(By.cssSelector("#subscriptions tr[data-subscription='ledger']"));
        assertThat(ledger.findElement(By.cssSelector(".badge")).getAttribute("data-circuit"))
                .isEqualTo("closed");
        // Lanes are shared by tenants: a tenant's view leaves lag out rather than show others' traffic.
        assertThat(ledger.findElements(By.cssSelector(".lanes span"))).isEmpty();
        assertThat(browser.findElement(By.id("dead-letters")).getText()).isEqualTo("1");

        paymentsFixed.set(true);
        row.findElement(By.cssSelector("button.reprocess")).click();
        new WebDriverWait(browser, WAIT)
                .until(d -> d.findElement(By.id("message")).getText().startsWith("sent back"));
        new WebDriverWait(browser, WAIT)
                .until(d -> d.findElements(By.cssSelector("#dead-letter-rows tr[data-dead-letter]"))
                        .isEmpty());
        assertThat(receiver.calls())
                .filteredOn(c -> c.body().contains("\"p-1\""))
                .hasSize(2);
        new WebDriverWait(browser, WAIT)
                .until(d -> d.findElement(By.id("dead-letters")).getText().equals("0"));
    }

    @Test
    void shouldRunItsOwnScriptAndStyleUnderItsContentSecurityPolicy() {
        browser.get("http://127.0.0.1:" + server.port() + "/");
        browser.executeScript("sessionStorage.clear()");
        browser.navigate().refresh();

        // The script ran (it asks for a token on this server) and the style applied: the policy let both through.
        visible("signin");
        Object background = browser.executeScript("return getComputedStyle(document.body).backgroundColor");
        assertThat(background).isEqualTo("rgb(248, 249, 251)");
    }
}
