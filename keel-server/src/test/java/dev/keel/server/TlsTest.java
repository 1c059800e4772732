package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.keel.Keel;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** HTTPS from PEM files or a PKCS#12 store, a renewed certificate picked up without a restart, and bad files refused. */
class TlsTest {
    private static final String PASSWORD = "changeit";

    @TempDir
    Path dir;

    private KeelServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** A self-signed certificate for 127.0.0.1 in a new PKCS#12 store, made by the JDK's keytool. */
    private Path keyStore(String name) throws Exception {
        Path store = dir.resolve(name + ".p12");
        Process p = new ProcessBuilder(
                        Path.of(System.getProperty("java.home"), "bin", "keytool")
                                .toString(),
                        "-genkeypair",
                        "-alias",
                        "keel",
                        "-keyalg",
                        "EC",
                        "-groupname",
                        "secp256r1",
                        "-dname",
                        "CN=" + name,
                        "-ext",
                        "SAN=ip:127.0.0.1,dns:localhost",
                        "-validity",
                        "2",
                        "-storetype",
                        "PKCS12",
                        "-keystore",
                        store.toString(),
                        "-storepass",
                        PASSWORD)
                .redirectErrorStream(true)
                .start();
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output).isZero();
        return store;
    }

    private static KeyStore open(Path store) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, PASSWORD.toCharArray());
        }
        return ks;
    }

    private static X509Certificate certificate(Path store) throws Exception {
        return (X509Certificate) open(store).getCertificate("keel");
    }

    /** Writes the store's certificate and key as PEM files (the key as PKCS#8). */
    private static void writePem(Path store, Path cert, Path key) throws Exception {
        KeyStore ks = open(store);
        Base64.Encoder b64 = Base64.getMimeEncoder(64, "\n".getBytes());
        Files.writeString(
                cert,
                "-----BEGIN CERTIFICATE-----\n"
                        + b64.encodeToString(ks.getCertificate("keel").getEncoded()) + "\n-----END CERTIFICATE-----\n");
        Files.writeString(
                key,
                "-----BEGIN PRIVATE KEY-----\n"
                        + b64.encodeToString(
                                ks.getKey("keel", PASSWORD.toCharArray()).getEncoded())
                        + "\n-----END PRIVATE KEY-----\n");
    }

    /** A new client (so a new connection) trusting these certificates only. */
    private static HttpClient client(X509Certificate... trusted) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        for (int i = 0; i < trusted.length; i++) {
            trust.setCertificateEntry("c" + i, trusted[i]);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(ssl).build();
    }

    /** The serial number of the certificate the server presents to a new connection. */
    private BigInteger served(HttpClient client) throws Exception {
        HttpResponse<String> r = client.send(
                HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.port() + "/health/live"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return ((X509Certificate) r.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber();
    }

    @Test
    void shouldServeHttpsFromPemFilesAndPickUpARenewedCertificate() throws Exception {
        Path first = keyStore("first");
        Path second = keyStore("second");
        Path cert = dir.resolve("chain.pem");
        Path key = dir.resolve("key.pem");
        writePem(first, cert, key);
        server = KeelServer.builder(Keel.builder().build().start())
                .port(0)
                .tls(ServerTls.pem(cert, key).checkEvery(Duration.ofMillis(50)))
                .build()
                .start();
        assertThat(server.tls()).isTrue();
        X509Certificate one = certificate(first);
        X509Certificate two = certificate(second);

        assertThat(served(client(one))).isEqualTo(one.getSerialNumber());

        // Renewed: written aside, then moved into place, as certificate tools do.
        writePem(second, dir.resolve("chain.new"), dir.resolve("key.new"));
        Files.move(dir.resolve("key.new"), key, StandardCopyOption.REPLACE_EXISTING);
        Files.move(dir.resolve("chain.new"), cert, StandardCopyOption.REPLACE_EXISTING);

        await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() -> served(client(one, two))
                .equals(two.getSerialNumber()));
        assertThatThrownBy(() -> served(client(one))).isInstanceOf(javax.net.ssl.SSLHandshakeException.class);
    }

    @Test
    void shouldServeHttpsFromAPkcs12StoreAndPickUpAReplacedOne() throws Exception {
        Path store = keyStore("served");
        Path next = keyStore("next");
        X509Certificate one = certificate(store);
        X509Certificate two = certificate(next);
        server = KeelServer.builder(Keel.builder().build().start())
                .port(0)
                .tls(ServerTls.fromEnvironment(
                                Map.of("KEEL_TLS_KEYSTORE", store.toString(), "KEEL_TLS_KEYSTORE_PASSWORD", PASSWORD))
                        .orElseThrow()
                        .checkEvery(Duration.ofMillis(50)))
                .build()
                .start();

        assertThat(served(client(one))).isEqualTo(one.getSerialNumber());

        Files.move(next, store, StandardCopyOption.REPLACE_EXISTING);

        await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() -> served(client(one, two))
                .equals(two.getSerialNumber()));
    }

    @Test
    void shouldRefuseBadFilesWithAnErrorNamingTheVariable() throws Exception {
        Path store = keyStore("good");
        Path cert = dir.resolve("chain.pem");
        Path key = dir.resolve("key.pem");
        writePem(store, cert, key);
        Path garbage = dir.resolve("garbage.pem");
        Files.writeString(garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        Path rsa = dir.resolve("rsa.pem");
        Files.writeString(rsa, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");

        assertThatThrownBy(() -> ServerTls.fromEnvironment(
                        Map.of("KEEL_TLS_CERT", cert.toString(), "KEEL_TLS_KEY", garbage.toString())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("KEEL_TLS_KEY")
                .hasMessageContaining(garbage.toString());
        assertThatThrownBy(() -> ServerTls.fromEnvironment(
                        Map.of("KEEL_TLS_CERT", cert.toString(), "KEEL_TLS_KEY", rsa.toString())))
                .hasMessageContaining("KEEL_TLS_KEY")
                .hasMessageContaining("PKCS#8");
        assertThatThrownBy(() -> ServerTls.fromEnvironment(
                        Map.of("KEEL_TLS_CERT", key.toString(), "KEEL_TLS_KEY", key.toString())))
                .hasMessageContaining("KEEL_TLS_CERT");
        assertThatThrownBy(() -> ServerTls.fromEnvironment(Map.of("KEEL_TLS_CERT", cert.toString())))
                .hasMessageContaining("KEEL_TLS_KEY");
        assertThatThrownBy(() -> ServerTls.fromEnvironment(
                        Map.of("KEEL_TLS_KEYSTORE", store.toString(), "KEEL_TLS_KEYSTORE_PASSWORD", "wrong")))
                .hasMessageContaining("KEEL_TLS_KEYSTORE");
        assertThat(ServerTls.fromEnvironment(Map.of())).isEmpty();
        assertThat(List.of(cert, key)).allMatch(Files::exists);
    }
}
