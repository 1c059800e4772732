package dev.keel.server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS for the server: a certificate chain and its private key as PEM files (a PKCS#8 key: {@code BEGIN PRIVATE
 * KEY}), or a PKCS#12 key store. The files are watched: when they change (a renewed certificate), new connections get
 * the new certificate without a restart, and connections already open keep theirs. Files that cannot be read at a
 * change (written half-way, say) are logged and the certificate in use is kept until they can.
 *
 * <pre>{@code
 * KeelServer.builder(keel).tls(ServerTls.pem(Path.of("tls/chain.pem"), Path.of("tls/key.pem"))).build();
 * }</pre>
 */
public final class ServerTls {
    /** How often the files are checked for a change by default: every 10 s. */
    public static final Duration DEFAULT_CHECK_EVERY = Duration.ofSeconds(10);

    private static final Logger log = LoggerFactory.getLogger(ServerTls.class);
    private static final Pattern PEM_KEY =
            Pattern.compile("-----BEGIN ([A-Z ]*)PRIVATE KEY-----([A-Za-z0-9+/=\\s]*)-----END \\1PRIVATE KEY-----");
    private static final String ALIAS = "keel";

    private final Path certificate;
    private final Path privateKey;
    private final Path keyStore;
    private final char[] password;
    private final Duration checkEvery;
    private final String certificateName;
    private final String keyName;

    private ServerTls(
            Path certificate,
            Path privateKey,
            Path keyStore,
            char[] password,
            Duration checkEvery,
            String certificateName,
            String keyName) {
        this.certificate = certificate;
        this.privateKey = privateKey;
        this.keyStore = keyStore;
        this.password = password;
        this.checkEvery = checkEvery;
        this.certificateName = certificateName;
        this.keyName = keyName;
    }

    /**
     * A certificate chain (the server's certificate first) and its private key, as PEM files.
     *
     * @throws IllegalArgumentException when they cannot be read, naming the file and what is wrong
     */
    public static ServerTls pem(Path certificateChain, Path privateKey) {
        return checked(new ServerTls(
                Objects.requireNonNull(certificateChain, "certificateChain"),
                Objects.requireNonNull(privateKey, "privateKey"),
                null,
                new char[0],
                DEFAULT_CHECK_EVERY,
                "the certificate file",
                "the key file"));
    }

    /**
     * A PKCS#12 key store holding one private key and its certificate chain.
     *
     * @throws IllegalArgumentException when it cannot be read, naming the file and what is wrong
     */
    public static ServerTls pkcs12(Path keyStore, String password) {
        return checked(new ServerTls(
                null,
                null,
                Objects.requireNonNull(keyStore, "keyStore"),
                Objects.requireNonNull(password, "password").toCharArray(),
                DEFAULT_CHECK_EVERY,
                "the key store",
                "the key store"));
    }

    /**
     * TLS as {@code keel serve}'s environment asks: {@code KEEL_TLS_CERT} and {@code KEEL_TLS_KEY} (PEM), or
     * {@code KEEL_TLS_KEYSTORE} and {@code KEEL_TLS_KEYSTORE_PASSWORD} (PKCS#12); empty when none is set.
     *
     * @throws IllegalArgumentException naming the variable that is missing or whose file is not valid
     */
    public static Optional<ServerTls> fromEnvironment(Map<String, String> env) {
        String cert = env.get("KEEL_TLS_CERT");
        String key = env.get("KEEL_TLS_KEY");
        String store = env.get("KEEL_TLS_KEYSTORE");
        if (cert == null && key == null && store == null) {
            return Optional.empty();
        }
        if (store != null) {
            if (cert != null || key != null) {
                throw new IllegalArgumentException(
                        "set either KEEL_TLS_CERT and KEEL_TLS_KEY (PEM) or KEEL_TLS_KEYSTORE (PKCS#12), not both");
            }
            String password = env.get("KEEL_TLS_KEYSTORE_PASSWORD");
            if (password == null) {
                throw new IllegalArgumentException("KEEL_TLS_KEYSTORE needs KEEL_TLS_KEYSTORE_PASSWORD");
            }
            return Optional.of(checked(new ServerTls(
                    null,
                    null,
                    Path.of(store),
                    password.toCharArray(),
                    DEFAULT_CHECK_EVERY,
                    "KEEL_TLS_KEYSTORE",
                    "KEEL_TLS_KEYSTORE")));
        }
        if (cert == null || key == null) {
            throw new IllegalArgumentException("TLS needs both KEEL_TLS_CERT (the certificate chain, PEM) and"
                    + " KEEL_TLS_KEY (its private key, PEM); " + (cert == null ? "KEEL_TLS_CERT" : "KEEL_TLS_KEY")
                    + " is not set");
        }
        return Optional.of(checked(new ServerTls(
                Path.of(cert), Path.of(key), null, new char[0], DEFAULT_CHECK_EVERY, "KEEL_TLS_CERT", "KEEL_TLS_KEY")));
    }

    /** These settings, with the files checked for a change at this interval. */
    public ServerTls checkEvery(Duration value) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("the TLS check interval must be positive but was " + value);
        }
        return new ServerTls(certificate, privateKey, keyStore, password, value, certificateName, keyName);
    }

    private static ServerTls checked(ServerTls tls) {
        tls.load();
        return tls;
    }

    /** The files watched. */
    private List<Path> files() {
        return keyStore != null ? List.of(keyStore) : List.of(certificate, privateKey);
    }

    /**
     * Reads the files into a key store.
     *
     * @throws IllegalArgumentException naming the file (or the variable it came from) and what is wrong
     */
    KeyStore load() {
        if (keyStore != null) {
            try (InputStream in = Files.newInputStream(keyStore)) {
                KeyStore store = KeyStore.getInstance("PKCS12");
                store.load(in, password);
                if (!hasKey(store)) {
                    throw new IllegalArgumentException(keyName + " ('" + keyStore + "') holds no private key");
                }
                return store;
            } catch (IOException | GeneralSecurityException e) {
                throw new IllegalArgumentException(
                        keyName + " ('" + keyStore + "') cannot be read as PKCS#12 with" + " the password given: "
                                + e.getMessage(),
                        e);
            }
        }
        List<Certificate> chain = new ArrayList<>();
        try (InputStream in = Files.newInputStream(certificate)) {
            chain.addAll(CertificateFactory.getInstance("X.509").generateCertificates(in));
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    certificateName + " ('" + certificate + "') is not a PEM certificate chain: " + e.getMessage(), e);
        }
        if (chain.isEmpty()) {
            throw new IllegalArgumentException(certificateName + " ('" + certificate + "') holds no certificate");
        }
        PrivateKey key = privateKey(chain.getFirst());
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry(ALIAS, key, password, chain.toArray(Certificate[]::new));
            return store;
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    keyName + " ('" + privateKey + "') does not go with the certificate of " + certificateName + ": "
                            + e.getMessage(),
                    e);
        }
    }

    private PrivateKey privateKey(Certificate certificate) {
        String text;
        try {
            text = Files.readString(privateKey, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalArgumentException(
                    keyName + " ('" + privateKey + "') cannot be read: " + e.getMessage(), e);
        }
        Matcher m = PEM_KEY.matcher(text);
        if (!m.find() || !m.group(1).isEmpty()) {
            throw new IllegalArgumentException(keyName + " ('" + privateKey + "') is not a PEM PKCS#8 private key"
                    + " ('-----BEGIN PRIVATE KEY-----'); convert one with: openssl pkcs8 -topk8 -nocrypt -in <key>");
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(m.group(2));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(keyName + " ('" + privateKey + "') is not valid base64 PEM", e);
        }
        String algorithm = certificate.getPublicKey().getAlgorithm();
        try {
            return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
            throw new IllegalArgumentException(
                    keyName + " ('" + privateKey + "') is not a " + algorithm
                            + " private key, which the certificate's key is: " + e.getMessage(),
                    e);
        }
    }

    private static boolean hasKey(KeyStore store) throws GeneralSecurityException {
        for (String alias : java.util.Collections.list(store.aliases())) {
            if (store.isKeyEntry(alias)) {
                return true;
            }
        }
        return false;
    }

    /** A connector speaking HTTP/1.1 over TLS, and the watch that reloads its certificate; close the watch last. */
    Listener listen(Server server, HttpConfiguration http) {
        SslContextFactory.Server factory = new SslContextFactory.Server();
        factory.setKeyStore(load());
        factory.setKeyStorePassword(new String(password));
        // Clients may connect by address (no SNI) or by any name the certificate covers.
        SecureRequestCustomizer secure = new SecureRequestCustomizer(false);
        http.addCustomizer(secure);
        ServerConnector connector = new ServerConnector(
                server, new SslConnectionFactory(factory, "http/1.1"), new HttpConnectionFactory(http));
        return new Listener(connector, factory);
    }

    /** The TLS connector and the thread that reloads its certificate when the files change. */
    final class Listener implements AutoCloseable {
        private final ServerConnector connector;
        private final SslContextFactory.Server factory;
        private final Thread watch;
        private volatile boolean open = true;

        private Listener(ServerConnector connector, SslContextFactory.Server factory) {
            this.connector = connector;
            this.factory = factory;
            this.watch = Thread.ofPlatform().daemon().name("keel-tls-watch").start(this::watch);
        }

        ServerConnector connector() {
            return connector;
        }

        private void watch() {
            List<Object> seen = fingerprint();
            while (open) {
                LockSupport.parkNanos(checkEvery.toNanos());
                if (!open) {
                    return;
                }
                List<Object> now = fingerprint();
                if (now.equals(seen)) {
                    continue;
                }
                try {
                    KeyStore store = load();
                    factory.reload(f -> f.setKeyStore(store));
                    seen = now;
                    log.info("TLS: new connections use the certificate now in {}", files());
                } catch (Exception e) {
                    // Kept unseen: read again at the next check, when the files may be whole.
                    log.warn(
                            "TLS: the changed files cannot be used yet, the current certificate stays: {}",
                            e.toString());
                }
            }
        }

        /** What tells a change: each file's time and size (the content when the time does not move). */
        private List<Object> fingerprint() {
            List<Object> out = new ArrayList<>();
            for (Path p : files()) {
                try {
                    out.add(Files.getLastModifiedTime(p).toMillis());
                    out.add(java.util.Arrays.hashCode(Files.readAllBytes(p)));
                } catch (IOException e) {
                    out.add(e.getClass().getName());
                }
            }
            return out;
        }

        @Override
        public void close() {
            open = false;
            LockSupport.unpark(watch);
        }
    }
}
