package dev.keel.server;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.Subscription;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The webhook subscriptions a server runs: each is a runtime subscription whose handler posts to the
 * webhook, behind a circuit breaker (and a rate limiter when asked). Those created over HTTP are kept in a
 * JSON file, when one is given, and come back on restart; those declared in the configuration are applied
 * at start and cannot be changed over HTTP.
 */
final class WebhookSubscriptions implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WebhookSubscriptions.class);

    private final Keel keel;
    private final ObjectMapper mapper;
    private final Path file;
    private final Clock clock;
    private final HttpClient client;
    private final boolean allowPrivateTargets;
    private final Map<Key, Running> running = new LinkedHashMap<>();
    /** The subscriptions created over HTTP, as kept in the file; guarded by {@code this}. */
    private final Map<Key, WebhookSubscription> stored = new LinkedHashMap<>();

    private final Map<Key, Object> keyLocks = new java.util.concurrent.ConcurrentHashMap<>();
    private long lastGeneration;

    private record Key(String tenant, String name) {}

    private record Running(WebhookSubscription subscription, CircuitBreaker breaker) {}

    /** A subscription built for the runtime, not yet subscribed. */
    private record Prepared(WebhookSubscription webhook, Subscription subscription, CircuitBreaker breaker) {}

    /** A subscription as stored or declared, before it is parsed. */
    record Definition(String name, String tenant, JsonNode spec) {}

    /** The outcome of a {@link #put}: the subscription, and whether it was new. */
    record Put(WebhookSubscription subscription, boolean created) {}

    /**
     * @param allowPrivateTargets whether webhooks may point at loopback, private and link-local addresses
     */
    WebhookSubscriptions(Keel keel, ObjectMapper mapper, Path file, Clock clock, boolean allowPrivateTargets) {
        this.allowPrivateTargets = allowPrivateTargets;
        this.keel = keel;
        this.mapper = mapper;
        this.file = file;
        this.clock = clock;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(Executors.newVirtualThreadPerTaskExecutor())
                .build();
    }

    /**
     * Starts the subscriptions stored in the file and those declared; a declared one wins over a stored one of
     * the same tenant and name.
     *
     * @throws IllegalArgumentException naming the declared subscription that is not valid
     */
    synchronized void start(List<Definition> declared) {
        Map<Key, WebhookSubscription> wanted = new LinkedHashMap<>();
        for (Definition d : declared) {
            try {
                String deliveryName = "webhook:" + tenantPart(d.tenant()) + ":" + d.name();
                WebhookSubscription s = WebhookSubscription.parse(
                        d.name(), d.tenant(), d.spec(), null, deliveryName, clock.instant(), true);
                if (wanted.put(new Key(d.tenant(), d.name()), s) != null) {
                    throw new IllegalArgumentException("it is declared twice");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("subscription '" + d.name() + "': " + e.getMessage(), e);
            }
        }
        for (WebhookSubscription s : load()) {
            Key key = new Key(s.tenant(), s.name());
            if (wanted.containsKey(key)) {
                log.warn(
                        "subscription '{}' is declared in the configuration and was also created over HTTP; the"
                                + " declared one is used",
                        s.name());
            } else {
                wanted.put(key, s);
                stored.put(key, s);
            }
        }
        List<Prepared> prepared = new ArrayList<>();
        for (WebhookSubscription s : wanted.values()) {
            try {
                prepared.add(prepare(s));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("subscription '" + s.name() + "': " + e.getMessage(), e);
            }
        }
        for (Prepared p : prepared) {
            keel.subscribe(p.subscription());
            running.put(new Key(p.webhook().tenant(), p.webhook().name()), new Running(p.webhook(), p.breaker()));
        }
    }

    synchronized List<WebhookSubscription> list(String tenant) {
        return running.values().stream()
                .map(Running::subscription)
                .filter(s -> Objects.equals(s.tenant(), tenant))
                .toList();
    }

    synchronized Optional<WebhookSubscription> get(String tenant, String name) {
        Running r = running.get(new Key(tenant, name));
        return r == null ? Optional.empty() : Optional.of(r.subscription());
    }

    /** The state of the subscription's circuit: closed, open or half_open. */
    synchronized String circuit(String tenant, String name) {
        Running r = running.get(new Key(tenant, name));
        return r == null ? null : r.breaker().getState().name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Creates or replaces a subscription. A replaced one keeps its position and pending retries. Changes to
     * one name wait for each other (a replacement waits for the old one's deliveries in flight); other names
     * and reads are not held up meanwhile.
     *
     * @throws IllegalArgumentException when the body is not a valid subscription
     * @throws IllegalStateException when the subscription is declared in the configuration
     */
    Put put(String tenant, String name, JsonNode body) {
        Key key = new Key(tenant, name);
        synchronized (lockFor(key)) {
            Running old;
            String deliveryName;
            Instant now = clock.instant();
            synchronized (this) {
                old = running.get(key);
                if (old != null && old.subscription().declared()) {
                    throw new IllegalStateException(declaredMessage(name));
                }
                deliveryName = old != null ? old.subscription().deliveryName() : newDeliveryName(tenant, name, now);
            }
            WebhookSubscription next = WebhookSubscription.parse(
                    name, tenant, body, old == null ? null : old.subscription(), deliveryName, now, false);
            if (old != null) {
                next = new WebhookSubscription(
                        next.name(),
                        next.tenant(),
                        next.types(),
                        next.url(),
                        next.secret(),
                        next.retry(),
                        next.timeout(),
                        next.ordering(),
                        next.rateLimit(),
                        next.breaker(),
                        next.deliveryName(),
                        old.subscription().createdAt(),
                        false);
            }
            Prepared prepared = prepare(next); // everything checked before anything changes
            save(key, next); // then kept: a subscription that could not be kept is not started
            if (old != null) {
                keel.unsubscribe(deliveryName); // waits for its deliveries in flight, holding this name only
            }
            try {
                keel.subscribe(prepared.subscription());
            } catch (RuntimeException e) {
                // Put back what ran before, in the runtime and in the file.
                save(key, old == null ? null : old.subscription());
                synchronized (this) {
                    running.remove(key);
                }
                if (old != null) {
                    Prepared restored = prepare(old.subscription());
                    keel.subscribe(restored.subscription());
                    synchronized (this) {
                        running.put(key, new Running(old.subscription(), restored.breaker()));
                    }
                }
                throw e;
            }
            synchronized (this) {
                running.put(key, new Running(next, prepared.breaker()));
            }
            return new Put(next, old == null);
        }
    }

    /**
     * Removes a subscription; its events stop being delivered. Its dead letters stay.
     *
     * @throws IllegalStateException when the subscription is declared in the configuration
     */
    boolean delete(String tenant, String name) {
        Key key = new Key(tenant, name);
        synchronized (lockFor(key)) {
            Running old;
            synchronized (this) {
                old = running.get(key);
                if (old == null) {
                    return false;
                }
                if (old.subscription().declared()) {
                    throw new IllegalStateException(declaredMessage(name));
                }
            }
            save(key, null);
            synchronized (this) {
                running.remove(key);
            }
            keel.unsubscribe(old.subscription().deliveryName());
            return true;
        }
    }

    private Object lockFor(Key key) {
        return keyLocks.computeIfAbsent(key, k -> new Object());
    }

    @Override
    public void close() {
        client.close();
    }

    private static String declaredMessage(String name) {
        return "subscription '" + name + "' is declared in the server's configuration file; change it there";
    }

    /** A name no earlier creation used, so a subscription created again starts from the events emitted then. */
    private String newDeliveryName(String tenant, String name, Instant now) {
        lastGeneration = Math.max(lastGeneration + 1, now.toEpochMilli());
        return "webhook:" + tenantPart(tenant) + ":" + name + ":" + Long.toString(lastGeneration, 36);
    }

    /** The tenant as it appears in a runtime subscription's name: itself when it can, else a digest of it. */
    private static String tenantPart(String tenant) {
        if (tenant == null) {
            return "-";
        }
        if (tenant.matches("[A-Za-z0-9._-]{1,48}")) {
            return tenant;
        }
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(tenant.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return "t" + java.util.HexFormat.of().formatHex(d, 0, 12);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /**
     * Builds the runtime subscription with its breaker and rate limiter, checking what parsing could not.
     *
     * @throws IllegalArgumentException when the subscription cannot run
     */
    private Prepared prepare(WebhookSubscription s) {
        if (!allowPrivateTargets) {
            WebhookTarget.checkPublic(s.url());
        }
        WebhookSubscription.Breaker b = s.breaker();
        CircuitBreaker breaker = CircuitBreaker.of(
                s.deliveryName(),
                CircuitBreakerConfig.custom()
                        .failureRateThreshold(b.failureRate())
                        .minimumNumberOfCalls(b.minimumCalls())
                        .slidingWindowSize(b.window())
                        .waitDurationInOpenState(b.openFor())
                        .permittedNumberOfCallsInHalfOpenState(Math.min(3, b.minimumCalls()))
                        .build());
        List<Middleware> middleware = new ArrayList<>();
        if (s.rateLimit() != null) {
            middleware.add(Middleware.rateLimiter(RateLimiter.of(
                    s.deliveryName(),
                    RateLimiterConfig.custom()
                            .limitForPeriod(s.rateLimit())
                            .limitRefreshPeriod(Duration.ofSeconds(1))
                            .timeoutDuration(Duration.ZERO)
                            .build())));
        }
        middleware.add(Middleware.circuitBreaker(breaker));
        Subscription subscription = Subscription.builder(s.deliveryName())
                .types(s.types().toArray(String[]::new))
                .tenant(s.tenant())
                .handler(Object.class, new WebhookTarget(s, client, mapper, clock, allowPrivateTargets))
                .use(middleware.toArray(Middleware[]::new))
                .ordering(s.ordering())
                .retry(s.retry())
                // The request's own timeout fires first, with the clearer message.
                .timeout(s.timeout().plusSeconds(5))
                .build();
        return new Prepared(s, subscription, breaker);
    }

    private List<WebhookSubscription> load() {
        if (file == null || !Files.exists(file)) {
            return List.of();
        }
        List<Map<String, Object>> stored;
        try {
            stored = mapper.readValue(file.toFile(), new TypeReference<>() {});
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the subscriptions file '" + file + "': " + e.getMessage(), e);
        }
        List<WebhookSubscription> out = new ArrayList<>();
        for (Map<String, Object> m : stored) {
            ObjectNode spec = mapper.valueToTree(m.get("spec"));
            String name = (String) m.get("name");
            String tenant = (String) m.get("tenant");
            try {
                out.add(WebhookSubscription.parse(
                        name,
                        tenant,
                        spec,
                        null,
                        (String) m.get("deliveryName"),
                        Instant.parse((String) m.get("createdAt")),
                        false));
            } catch (RuntimeException e) {
                throw new IllegalStateException(
                        "the subscriptions file '" + file + "' holds an invalid subscription '" + name + "': "
                                + e.getMessage(),
                        e);
            }
        }
        return out;
    }

    /**
     * Writes the subscriptions created over HTTP, with the one under {@code key} replaced (removed when null);
     * in memory only when the file cannot be written.
     */
    private synchronized void save(Key key, WebhookSubscription replacement) {
        Map<Key, WebhookSubscription> all = new LinkedHashMap<>(stored);
        if (replacement == null) {
            all.remove(key);
        } else {
            all.put(key, replacement);
        }
        if (file != null) {
            write(all);
        }
        stored.clear();
        stored.putAll(all);
    }

    private void write(Map<Key, WebhookSubscription> all) {
        List<Map<String, Object>> stored = new ArrayList<>();
        for (WebhookSubscription s : all.values()) {
            if (s.declared()) {
                continue;
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("tenant", s.tenant());
            m.put("deliveryName", s.deliveryName());
            m.put("createdAt", s.createdAt().toString());
            m.put("spec", s.spec(true));
            stored.add(m);
        }
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp); // it holds signing secrets: readable by the owner only, where the system allows
            try {
                Files.setPosixFilePermissions(
                        tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // not a POSIX file system
            }
            try (java.nio.channels.FileChannel ch =
                    java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(
                        mapper.writerWithDefaultPrettyPrinter().writeValueAsBytes(stored)));
                ch.force(true); // on disk before it replaces the old file
            }
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the subscriptions file '" + file + "': " + e.getMessage(), e);
        }
    }
}
