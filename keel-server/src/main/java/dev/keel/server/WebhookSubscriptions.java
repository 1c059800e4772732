package dev.keel.server;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.keel.ComponentHealth;
import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.Subscription;
import dev.keel.SubscriptionStore;
import dev.keel.spi.Coordination.StoredSubscription;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The webhook subscriptions a server runs: each is a runtime subscription whose handler posts to the webhook,
 * behind a circuit breaker (and a rate limiter when asked). Those created over HTTP are kept in the journal
 * ({@link Keel#subscriptionStore()}), so every instance sharing it runs the same ones: a change made on one
 * instance is applied there at once and by the others within a second (each reads the store every second and
 * applies what changed, by revision). Those declared in the configuration are applied at start and cannot be
 * changed over HTTP. A breaker's open state is shared through the journal's pauses, under the subscription's
 * delivery name, which is the same on every instance.
 *
 * <p>Threads: HTTP request threads change it (one name at a time, under that name's lock); the
 * {@code keel-webhook-sync} thread applies other instances' changes under the same locks. The running set is
 * guarded by {@code this}.
 */
final class WebhookSubscriptions implements SubscriptionNames, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WebhookSubscriptions.class);
    private static final Duration SYNC_EVERY = Duration.ofSeconds(1);

    private final Keel keel;
    private final SubscriptionStore store;
    private final ObjectMapper mapper;
    private final Path legacyFile;
    private final Clock clock;
    private final HttpClient client;
    private final boolean allowPrivateTargets;
    /** What runs, by tenant and name; guarded by {@code this}. */
    private final Map<Key, Running> running = new LinkedHashMap<>();

    private final Map<Key, Object> keyLocks = new ConcurrentHashMap<>();
    /** The revision each name was last removed at here, so that a list read before the removal cannot bring it back. */
    private final Map<Key, Long> removedAt = new ConcurrentHashMap<>();

    private long lastGeneration;
    private volatile boolean syncing;
    private Thread sync;

    private record Key(String tenant, String name) {
        /** The key in the store: length-prefixed, so no tenant and name spell another pair. */
        String stored() {
            return (tenant == null ? "-" : tenant.length() + ":" + tenant) + "/" + name;
        }
    }

    /**
     * @param revision the stored revision it runs (0 for a declared one)
     */
    private record Running(WebhookSubscription subscription, CircuitBreaker breaker, long revision) {}

    /** A subscription built for the runtime, not yet subscribed. */
    private record Prepared(WebhookSubscription webhook, Subscription subscription, CircuitBreaker breaker) {}

    /** A subscription as declared, before it is parsed. */
    record Definition(String name, String tenant, JsonNode spec) {}

    /** The outcome of a {@link #put}: the subscription, and whether it was new. */
    record Put(WebhookSubscription subscription, boolean created) {}

    /**
     * @param legacyFile a subscriptions file of an earlier version, whose entries are moved into the journal
     *     once at start; may be null
     * @param allowPrivateTargets whether webhooks may point at loopback, private and link-local addresses
     */
    WebhookSubscriptions(Keel keel, ObjectMapper mapper, Path legacyFile, Clock clock, boolean allowPrivateTargets) {
        this.allowPrivateTargets = allowPrivateTargets;
        this.keel = keel;
        this.store = keel.subscriptionStore();
        this.mapper = mapper;
        this.legacyFile = legacyFile;
        this.clock = clock;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5))
                .followRedirects(HttpClient.Redirect.NEVER)
                .executor(Executors.newVirtualThreadPerTaskExecutor())
                .build();
    }

    /**
     * Starts the declared subscriptions and those stored in the journal (a declared one wins over a stored one
     * of the same tenant and name), then follows the store.
     *
     * @throws IllegalArgumentException naming the declared subscription that is not valid
     */
    void start(List<Definition> declared) {
        importLegacyFile();
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
            synchronized (this) {
                running.put(key(p.webhook()), new Running(p.webhook(), p.breaker(), 0));
            }
        }
        follow(store.revision(), store.list());
        syncing = true;
        sync = Thread.ofPlatform().daemon().name("keel-webhook-sync").start(this::syncLoop);
    }

    /** Moves the entries of an earlier version's subscriptions file into the journal, once. */
    private void importLegacyFile() {
        if (legacyFile == null || !Files.exists(legacyFile)) {
            return;
        }
        List<Map<String, Object>> entries;
        try {
            entries = mapper.readValue(legacyFile.toFile(), new TypeReference<>() {});
        } catch (IOException e) {
            throw new UncheckedIOException(
                    "cannot read the subscriptions file '" + legacyFile + "': " + e.getMessage(), e);
        }
        Map<String, StoredSubscription> present = new HashMap<>();
        store.list().forEach(s -> present.put(s.key(), s));
        for (Map<String, Object> m : entries) {
            Key key = new Key((String) m.get("tenant"), (String) m.get("name"));
            if (!present.containsKey(key.stored())) {
                try {
                    store.save(key.stored(), mapper.writeValueAsString(m));
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        try {
            Files.move(
                    legacyFile,
                    legacyFile.resolveSibling(legacyFile.getFileName() + ".imported"),
                    StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            log.warn(
                    "moved the subscriptions of '{}' into the journal but could not rename the file: {}",
                    legacyFile,
                    e.toString());
        }
        log.info("moved {} subscription(s) from '{}' into the journal", entries.size(), legacyFile);
    }

    private void syncLoop() {
        while (syncing) {
            LockSupport.parkNanos(SYNC_EVERY.toNanos());
            if (!syncing) {
                return;
            }
            try {
                long revision =
                        store.revision(); // first: whatever runs at a revision up to it and is not listed was removed
                follow(revision, store.list());
            } catch (RuntimeException e) {
                log.warn(
                        "could not read the stored webhook subscriptions ({}); trying again in {}",
                        e.toString(),
                        SYNC_EVERY);
            }
        }
    }

    /** Stops following the store (before the runtime closes). */
    void stopSync() {
        syncing = false;
        Thread t = sync;
        if (t != null) {
            LockSupport.unpark(t);
            try {
                t.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Applies what the store holds: new and changed subscriptions run, removed ones stop.
     *
     * @param newest the store's revision, read before the list
     */
    private void follow(long newest, List<StoredSubscription> stored) {
        Map<Key, StoredSubscription> byKey = new LinkedHashMap<>();
        for (StoredSubscription s : stored) {
            try {
                JsonNode doc = mapper.readTree(s.document());
                byKey.put(new Key(text(doc, "tenant"), text(doc, "name")), s);
            } catch (IOException e) {
                log.error("stored subscription '{}' is not JSON; it is ignored", s.key(), e);
            }
        }
        for (Map.Entry<Key, StoredSubscription> e : byKey.entrySet()) {
            Key key = e.getKey();
            StoredSubscription s = e.getValue();
            if (!newer(key, s)) {
                continue; // checked without the name's lock, so a slow change of one name holds up no other
            }
            synchronized (lockFor(key)) {
                if (!newer(key, s)) {
                    continue;
                }
                try {
                    apply(key, read(s.document()), s.revision());
                } catch (RuntimeException ex) {
                    log.error("could not run stored subscription '{}'; it is left as it was", key.name(), ex);
                }
            }
        }
        List<Key> gone = new ArrayList<>();
        synchronized (this) {
            for (Map.Entry<Key, Running> e : running.entrySet()) {
                Running r = e.getValue();
                // Revisions only grow: one newer than the store's revision was saved here since, not removed.
                if (!r.subscription().declared() && !byKey.containsKey(e.getKey()) && r.revision() <= newest) {
                    gone.add(e.getKey());
                }
            }
        }
        for (Key key : gone) {
            synchronized (lockFor(key)) {
                Running r = runningOf(key);
                if (r != null && r.revision() <= newest) {
                    stop(key, r);
                }
            }
        }
    }

    /** Whether a stored definition is newer than what runs here under its name, and than its last removal here. */
    private boolean newer(Key key, StoredSubscription s) {
        Running r = runningOf(key);
        if (r != null && (r.subscription().declared() || r.revision() >= s.revision())) {
            return false;
        }
        Long removed = removedAt.get(key);
        return removed == null || s.revision() > removed;
    }

    private WebhookSubscription read(String document) {
        try {
            JsonNode m = mapper.readTree(document);
            ObjectNode spec = (ObjectNode) m.get("spec");
            return WebhookSubscription.parse(
                    text(m, "name"),
                    text(m, "tenant"),
                    spec,
                    null,
                    text(m, "deliveryName"),
                    Instant.parse(text(m, "createdAt")),
                    false);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("a stored subscription is not valid: " + e.getMessage(), e);
        }
    }

    private String document(WebhookSubscription s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", s.name());
        m.put("tenant", s.tenant());
        m.put("deliveryName", s.deliveryName());
        m.put("createdAt", s.createdAt().toString());
        m.put("spec", s.spec(true));
        try {
            return mapper.writeValueAsString(m);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String text(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    /**
     * Runs a subscription under its key: a replacement of the same delivery name keeps its cursors, retries and
     * counters; one created anew (another delivery name) starts from the events emitted then.
     */
    private void apply(Key key, WebhookSubscription next, long revision) {
        Prepared prepared = prepare(next);
        Running old = runningOf(key);
        if (old != null && old.subscription().deliveryName().equals(next.deliveryName())) {
            try {
                keel.replace(prepared.subscription());
            } catch (dev.keel.SubscriptionException e) {
                // The runtime dropped it (an earlier replacement failed): run it anew, from its cursors.
                keel.subscribe(prepared.subscription());
            }
        } else {
            if (old != null) {
                keel.unsubscribe(old.subscription().deliveryName());
                WebhookTarget.removeMeters(
                        keel.meterRegistry(), old.subscription().deliveryName());
            }
            keel.subscribe(prepared.subscription());
        }
        synchronized (this) {
            running.put(key, new Running(next, prepared.breaker(), revision));
        }
    }

    private void stop(Key key, Running r) {
        synchronized (this) {
            running.remove(key);
        }
        keel.unsubscribe(r.subscription().deliveryName());
        WebhookTarget.removeMeters(keel.meterRegistry(), r.subscription().deliveryName());
    }

    private synchronized Running runningOf(Key key) {
        return running.get(key);
    }

    private static Key key(WebhookSubscription s) {
        return new Key(s.tenant(), s.name());
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

    /**
     * The webhooks as a health component, one per subscription: healthy while its circuit is closed, degraded while
     * it is open (the receiver keeps failing; deliveries wait, nothing is dead-lettered meanwhile) or half-open
     * (trial deliveries are under way). A receiver down never makes the server critical: ingest goes on.
     */
    synchronized ComponentHealth health() {
        List<ComponentHealth> parts = new ArrayList<>();
        for (Running r : running.values()) {
            WebhookSubscription s = r.subscription();
            CircuitBreaker.State state = r.breaker().getState();
            CircuitBreaker.Metrics m = r.breaker().getMetrics();
            Map<String, Object> details = new LinkedHashMap<>();
            details.put("circuit", state.name().toLowerCase(java.util.Locale.ROOT));
            details.put("failureRatePercent", Math.max(0, m.getFailureRate()));
            details.put("failedCalls", m.getNumberOfFailedCalls());
            String name = s.tenant() == null ? s.name() : s.tenant() + "/" + s.name();
            parts.add(
                    switch (state) {
                        case OPEN, FORCED_OPEN ->
                            new ComponentHealth(
                                    name,
                                    ComponentHealth.Status.DEGRADED,
                                    "its circuit is open: the receiver failed " + Math.round(m.getFailureRate())
                                            + "% of recent deliveries; they wait and are tried again when the circuit"
                                            + " lets a trial through (see its errors in GET /v1/stats)",
                                    details);
                        case HALF_OPEN ->
                            new ComponentHealth(
                                    name,
                                    ComponentHealth.Status.DEGRADED,
                                    "its circuit is half-open: trial deliveries are deciding whether the receiver is"
                                            + " back",
                                    details);
                        default -> ComponentHealth.healthy(name, details);
                    });
        }
        return ComponentHealth.of("webhooks", Map.of("subscriptions", parts.size()), parts);
    }

    /** The state of the subscription's circuit: closed, open or half_open. */
    synchronized String circuit(String tenant, String name) {
        Running r = running.get(new Key(tenant, name));
        return r == null ? null : r.breaker().getState().name().toLowerCase(java.util.Locale.ROOT);
    }

    @Override
    public synchronized String runtimeName(String tenant, String name) {
        Running r = running.get(new Key(tenant, name));
        return r == null ? null : r.subscription().deliveryName();
    }

    @Override
    public String userName(String runtimeName) {
        return WebhookSubscription.userName(runtimeName);
    }

    /**
     * Creates or replaces a subscription, for every instance: it is stored in the journal, then run here at once
     * (the others follow within a second). A replaced one keeps its position, pending retries and counters.
     * Changes to one name wait for each other (a replacement waits for the old one's deliveries in flight);
     * other names and reads are not held up meanwhile.
     *
     * @throws IllegalArgumentException when the body is not a valid subscription
     * @throws IllegalStateException when the subscription is declared in the configuration
     */
    Put put(String tenant, String name, JsonNode body) {
        Key key = new Key(tenant, name);
        synchronized (lockFor(key)) {
            Running old = runningOf(key);
            if (old != null && old.subscription().declared()) {
                throw new IllegalStateException(declaredMessage(name));
            }
            Instant now = clock.instant();
            String deliveryName = old != null ? old.subscription().deliveryName() : newDeliveryName(tenant, name, now);
            WebhookSubscription next = WebhookSubscription.parse(
                    name, tenant, body, old == null ? null : old.subscription(), deliveryName, now, false);
            if (old != null) {
                next = new WebhookSubscription(
                        next.name(),
                        next.tenant(),
                        next.types(),
                        next.url(),
                        next.secret(),
                        next.previousSecret(),
                        next.previousSecretExpiresAt(),
                        next.retry(),
                        next.timeout(),
                        next.ordering(),
                        next.rateLimit(),
                        next.breaker(),
                        next.deliveryName(),
                        old.subscription().createdAt(),
                        false);
            }
            prepare(next); // everything checked before anything changes
            long revision = store.save(key.stored(), document(next));
            apply(key, next, revision);
            return new Put(next, old == null);
        }
    }

    /**
     * Rotates a subscription's signing secret, for every instance: the new secret signs from now on, and the current
     * one too until {@code overlap} has passed, so receivers can move to the new one without missing a delivery.
     *
     * @param newSecret the new secret; null to generate one
     * @return the rotated subscription, empty when there is none of this name
     * @throws IllegalArgumentException when the new secret is not valid
     * @throws IllegalStateException when the subscription is declared in the configuration
     */
    Optional<WebhookSubscription> rotateSecret(String tenant, String name, String newSecret, Duration overlap) {
        Key key = new Key(tenant, name);
        synchronized (lockFor(key)) {
            Running old = runningOf(key);
            if (old == null) {
                return Optional.empty();
            }
            if (old.subscription().declared()) {
                throw new IllegalStateException(declaredMessage(name));
            }
            WebhookSubscription next = old.subscription()
                    .rotated(
                            newSecret != null ? newSecret : WebhookSubscription.newSecret(),
                            clock.instant().plus(overlap));
            long revision = store.save(key.stored(), document(next));
            apply(key, next, revision);
            return Optional.of(next);
        }
    }

    /**
     * Removes a subscription on every instance; its events stop being delivered. Its dead letters stay.
     *
     * @throws IllegalStateException when the subscription is declared in the configuration
     */
    boolean delete(String tenant, String name) {
        Key key = new Key(tenant, name);
        synchronized (lockFor(key)) {
            Running old = runningOf(key);
            if (old == null) {
                return false;
            }
            if (old.subscription().declared()) {
                throw new IllegalStateException(declaredMessage(name));
            }
            long revision = store.delete(key.stored());
            // Removed now, or by another instance already: either way no list read before now may bring it back.
            removedAt.merge(key, revision > 0 ? revision : store.revision(), Math::max);
            stop(key, old);
            return true;
        }
    }

    private Object lockFor(Key key) {
        return keyLocks.computeIfAbsent(key, k -> new Object());
    }

    @Override
    public void close() {
        stopSync();
        client.close();
    }

    private static String declaredMessage(String name) {
        return "subscription '" + name + "' is declared in the server's configuration file; change it there";
    }

    /** A name no earlier creation used, so a subscription created again starts from the events emitted then. */
    private synchronized String newDeliveryName(String tenant, String name, Instant now) {
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
                .handler(
                        Object.class,
                        new WebhookTarget(s, client, mapper, clock, allowPrivateTargets, keel.meterRegistry()))
                .use(middleware.toArray(Middleware[]::new))
                .ordering(s.ordering())
                .retry(s.retry())
                // The request's own timeout fires first, with the clearer message.
                .timeout(s.timeout().plusSeconds(5))
                .build();
        return new Prepared(s, subscription, breaker);
    }
}
