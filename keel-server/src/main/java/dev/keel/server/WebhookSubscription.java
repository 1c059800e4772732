package dev.keel.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.TypePattern;
import dev.keel.jdbc.StoreSettings;
import java.net.URI;
import java.net.URISyntaxException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A subscription that delivers to a webhook, as managed over {@code /v1/subscriptions} or declared in the
 * configuration file.
 *
 * @param name the name, unique within its tenant
 * @param tenant the tenant it belongs to and receives events of; null in open development mode
 * @param types the event type patterns it receives
 * @param url where events are posted
 * @param secret the signing secret, {@code whsec_} followed by base64
 * @param previousSecret the secret it replaced, still signing deliveries until {@code previousSecretExpiresAt}
 *     (both sign each delivery meanwhile, so a receiver can move to the new one without missing any); null for none
 * @param previousSecretExpiresAt when the previous secret stops signing; null when there is none
 * @param retry attempts and backoff
 * @param timeout how long one request may take
 * @param ordering the ordering mode
 * @param rateLimit the most deliveries per second, null for no limit
 * @param breaker when the endpoint's circuit opens and for how long
 * @param deliveryName the name of the runtime's subscription behind it (it keys cursors and dead letters);
 *     a new one for each creation, so a subscription created again starts from events emitted then
 * @param createdAt when it was created
 * @param declared true when it comes from the configuration file (and cannot be changed over HTTP)
 */
public record WebhookSubscription(
        String name,
        String tenant,
        List<String> types,
        URI url,
        String secret,
        String previousSecret,
        Instant previousSecretExpiresAt,
        RetryPolicy retry,
        Duration timeout,
        OrderingMode ordering,
        Integer rateLimit,
        Breaker breaker,
        String deliveryName,
        Instant createdAt,
        boolean declared) {

    /** Names: letters, digits, '.', '_' and '-', at most 100. */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,99}");

    /** The request timeout when none is given. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** The retry policy when none is given: 8 attempts, 1 s doubling up to 10 min, 20% jitter. */
    public static final RetryPolicy DEFAULT_RETRY = RetryPolicy.builder()
            .maxAttempts(8)
            .initialDelay(Duration.ofSeconds(1))
            .multiplier(2)
            .maxDelay(Duration.ofMinutes(10))
            .jitter(0.2)
            .build();

    private static final Set<String> FIELDS =
            Set.of("types", "webhook", "retry", "timeout", "ordering", "rateLimit", "circuitBreaker");
    private static final List<String> WEBHOOK_FIELDS =
            List.of("url", "secret", "previousSecret", "previousSecretExpiresAt");
    private static final SecureRandom RANDOM = new SecureRandom();

    public WebhookSubscription {
        Objects.requireNonNull(name, "name");
        types = List.copyOf(types);
        Objects.requireNonNull(url, "url");
        Objects.requireNonNull(secret, "secret");
        if ((previousSecret == null) != (previousSecretExpiresAt == null)) {
            throw new IllegalArgumentException(
                    "a previous secret needs the time it expires, and that time a previous secret");
        }
        Objects.requireNonNull(retry, "retry");
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(ordering, "ordering");
        Objects.requireNonNull(breaker, "breaker");
        Objects.requireNonNull(deliveryName, "deliveryName");
        Objects.requireNonNull(createdAt, "createdAt");
    }

    /**
     * When an endpoint's circuit opens: once at least {@code minimumCalls} of the last {@code window} calls
     * were made and {@code failureRate} percent of them failed. It stays open for {@code openFor}, then lets
     * a few probes through.
     */
    public record Breaker(int failureRate, int minimumCalls, int window, Duration openFor) {
        /** 50% of at least 10 of the last 20 calls; open for 30 s. */
        public static final Breaker DEFAULT = new Breaker(50, 10, 20, Duration.ofSeconds(30));

        public Breaker {
            if (failureRate < 1 || failureRate > 100) {
                throw new IllegalArgumentException(
                        "circuitBreaker.failureRate must be a percentage from 1 to 100 but was " + failureRate);
            }
            if (minimumCalls < 1 || window < minimumCalls) {
                throw new IllegalArgumentException("circuitBreaker.minimumCalls must be at least 1 and at most"
                        + " circuitBreaker.window (" + window + ") but was " + minimumCalls);
            }
            if (window > 1_000) {
                throw new IllegalArgumentException("circuitBreaker.window must be at most 1000 but was " + window);
            }
            if (openFor.compareTo(Duration.ofMillis(1)) < 0 || openFor.compareTo(Duration.ofDays(1)) > 0) {
                throw new IllegalArgumentException("circuitBreaker.openFor must be from 1ms to 1d but was " + openFor);
            }
        }
    }

    /**
     * The name a user gave the subscription behind a runtime subscription name ({@code webhook:<tenant>:<name>}
     * or {@code webhook:<tenant>:<name>:<generation>}); any other name is returned as it is.
     */
    static String userName(String runtimeName) {
        if (runtimeName == null || !runtimeName.startsWith("webhook:")) {
            return runtimeName;
        }
        String[] parts = runtimeName.split(":", -1);
        return parts.length == 3 || parts.length == 4 ? parts[2] : runtimeName;
    }

    /** The subscription as answered over HTTP (the secret shortened unless asked for) and as stored. */
    Map<String, Object> toJson(boolean withSecret) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.putAll(spec(withSecret));
        m.put("deliveryName", deliveryName);
        m.put("createdAt", createdAt.toString());
        m.put("declared", declared);
        return m;
    }

    /** The fields a client sends, which {@link #parse} reads back. */
    Map<String, Object> spec(boolean withSecret) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("types", types);
        Map<String, Object> webhook = new LinkedHashMap<>();
        webhook.put("url", url.toString());
        webhook.put("secret", withSecret ? secret : redacted(secret));
        if (previousSecret != null) {
            webhook.put("previousSecret", withSecret ? previousSecret : redacted(previousSecret));
            webhook.put("previousSecretExpiresAt", previousSecretExpiresAt.toString());
        }
        m.put("webhook", webhook);
        m.put(
                "retry",
                Map.of(
                        "maxAttempts", retry.maxAttempts(),
                        "initialDelay", retry.initialDelay().toString(),
                        "multiplier", retry.multiplier(),
                        "maxDelay", retry.maxDelay().toString(),
                        "jitter", retry.jitter()));
        m.put("timeout", timeout.toString());
        m.put("ordering", ordering.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        if (rateLimit != null) {
            m.put("rateLimit", rateLimit);
        }
        m.put(
                "circuitBreaker",
                Map.of(
                        "failureRate",
                        breaker.failureRate(),
                        "minimumCalls",
                        breaker.minimumCalls(),
                        "window",
                        breaker.window(),
                        "openFor",
                        breaker.openFor().toString()));
        return m;
    }

    /** A secret as shown after its creation: its first characters only. */
    static String redacted(String secret) {
        return secret.substring(0, Math.min(10, secret.length())) + "…";
    }

    /** Whether the previous secret still signs deliveries at this time. */
    boolean previousSecretValidAt(Instant at) {
        return previousSecret != null && at.isBefore(previousSecretExpiresAt);
    }

    /**
     * This subscription with a new secret, the current one kept as the previous one until {@code expiresAt} (a
     * previous secret it had is dropped: only two sign at once).
     */
    WebhookSubscription rotated(String newSecret, Instant expiresAt) {
        WebhookSigner.key(newSecret); // checks it
        return new WebhookSubscription(
                name,
                tenant,
                types,
                url,
                newSecret,
                secret,
                expiresAt,
                retry,
                timeout,
                ordering,
                rateLimit,
                breaker,
                deliveryName,
                createdAt,
                declared);
    }

    /**
     * Reads a subscription from its JSON (or YAML) form.
     *
     * @param previous the subscription it replaces, whose secret is kept when none is given; may be null
     * @param deliveryName the name of the runtime's subscription behind it
     * @throws IllegalArgumentException naming the field that is wrong and what to send instead
     */
    static WebhookSubscription parse(
            String name,
            String tenant,
            JsonNode body,
            WebhookSubscription previous,
            String deliveryName,
            Instant now,
            boolean declared) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("the subscription name '" + name
                    + "' is invalid: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        if (body == null || !body.isObject()) {
            throw new IllegalArgumentException(
                    "send a JSON object with 'types' and 'webhook' ({\"types\":[\"order.*\"],\"webhook\":{\"url\":...}})");
        }
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!FIELDS.contains(field)) {
                throw new IllegalArgumentException("unknown field '" + field + "'; the fields are "
                        + String.join(", ", FIELDS.stream().sorted().toList()));
            }
        }
        List<String> types = types(body.get("types"));
        JsonNode webhook = body.get("webhook");
        if (webhook == null || !webhook.isObject()) {
            throw new IllegalArgumentException(
                    "'webhook' is missing: give the target as \"webhook\": {\"url\": \"https://...\", \"secret\": \"whsec_...\"}");
        }
        for (Iterator<String> it = webhook.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!WEBHOOK_FIELDS.contains(field)) {
                throw new IllegalArgumentException(
                        "unknown field 'webhook." + field + "'; the fields are " + String.join(", ", WEBHOOK_FIELDS));
            }
        }
        URI url = url(text(webhook, "url", "webhook.url", true));
        String secret = text(webhook, "secret", "webhook.secret", false);
        String previousSecret = text(webhook, "previousSecret", "webhook.previousSecret", false);
        String expiresText = text(webhook, "previousSecretExpiresAt", "webhook.previousSecretExpiresAt", false);
        Instant previousExpires = null;
        if (secret == null) {
            if (previousSecret != null || expiresText != null) {
                throw new IllegalArgumentException("'webhook.previousSecret' goes with a new 'webhook.secret'; to"
                        + " rotate to a generated secret, POST /v1/subscriptions/{name}/rotate-secret");
            }
            secret = previous != null ? previous.secret() : newSecret();
            if (previous != null) { // the secrets stay as they are
                previousSecret = previous.previousSecret();
                previousExpires = previous.previousSecretExpiresAt();
            }
        } else {
            WebhookSigner.key(secret); // checks it
            if ((previousSecret == null) != (expiresText == null)) {
                throw new IllegalArgumentException("'webhook.previousSecret' and 'webhook.previousSecretExpiresAt'"
                        + " go together: the secret being replaced, and when it stops signing (an RFC 3339 time such"
                        + " as 2030-01-01T00:00:00Z)");
            }
            if (previousSecret != null) {
                try {
                    WebhookSigner.key(previousSecret);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(
                            e.getMessage().replace("'webhook.secret'", "'webhook.previousSecret'"), e);
                }
                try {
                    previousExpires = Instant.parse(expiresText);
                } catch (java.time.format.DateTimeParseException e) {
                    throw new IllegalArgumentException("'webhook.previousSecretExpiresAt' must be an RFC 3339 time in"
                            + " UTC such as 2030-01-01T00:00:00Z, but was '" + expiresText + "'");
                }
            }
        }
        RetryPolicy retry = retry(body.get("retry"));
        Duration timeout = duration(body, "timeout", "timeout", DEFAULT_TIMEOUT);
        if (timeout.isZero() || timeout.isNegative() || timeout.compareTo(Duration.ofMinutes(5)) > 0) {
            throw new IllegalArgumentException("'timeout' must be more than 0 and at most 5m but was " + timeout);
        }
        OrderingMode ordering = ordering(text(body, "ordering", "ordering", false));
        Integer rateLimit = null;
        JsonNode rate = body.get("rateLimit");
        if (rate != null && !rate.isNull()) {
            if (!rate.canConvertToInt() || !rate.isIntegralNumber() || rate.intValue() < 1) {
                throw new IllegalArgumentException(
                        "'rateLimit' is the most deliveries per second, a whole number of at least 1, but was " + rate);
            }
            rateLimit = rate.intValue();
        }
        Breaker breaker = breaker(body.get("circuitBreaker"));

        return new WebhookSubscription(
                name,
                tenant,
                types,
                url,
                secret,
                previousSecret,
                previousExpires,
                retry,
                timeout,
                ordering,
                rateLimit,
                breaker,
                deliveryName,
                now,
                declared);
    }

    private static List<String> types(JsonNode node) {
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw new IllegalArgumentException(
                    "'types' must be a non-empty array of type patterns such as [\"order.*\"]");
        }
        List<String> types = new ArrayList<>();
        for (JsonNode t : node) {
            if (!t.isTextual()) {
                throw new IllegalArgumentException("'types' holds " + t + ", which is not a string");
            }
            TypePattern.of(t.textValue()); // checks it
            types.add(t.textValue());
        }
        return types;
    }

    private static URI url(String text) {
        URI url;
        try {
            url = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("'webhook.url' is not a URL: " + e.getMessage(), e);
        }
        String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || url.getHost() == null) {
            throw new IllegalArgumentException(
                    "'webhook.url' must be an absolute http or https URL with a host, but was '" + text + "'");
        }
        if (url.getRawUserInfo() != null) {
            throw new IllegalArgumentException("'webhook.url' must not carry credentials; the signature authenticates");
        }
        return url;
    }

    private static RetryPolicy retry(JsonNode node) {
        if (node == null || node.isNull()) {
            return DEFAULT_RETRY;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(
                    "'retry' must be an object of maxAttempts, initialDelay, multiplier, maxDelay and jitter");
        }
        RetryPolicy.Builder b = DEFAULT_RETRY.toBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode v = f.getValue();
            try {
                switch (f.getKey()) {
                    case "maxAttempts" -> {
                        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                            throw new IllegalArgumentException("must be a whole number but was " + v);
                        }
                        b.maxAttempts(v.intValue());
                    }
                    case "initialDelay" -> b.initialDelay(StoreSettings.parseDuration(v.asText()));
                    case "maxDelay" -> b.maxDelay(StoreSettings.parseDuration(v.asText()));
                    case "multiplier" -> b.multiplier(number(v));
                    case "jitter" -> b.jitter(number(v));
                    default ->
                        throw new IllegalArgumentException(
                                "is not a retry setting; use maxAttempts, initialDelay, multiplier, maxDelay or jitter");
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'retry." + f.getKey() + "' " + message(e), e);
            }
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'retry' is not valid: " + e.getMessage(), e);
        }
    }

    private static Breaker breaker(JsonNode node) {
        if (node == null || node.isNull()) {
            return Breaker.DEFAULT;
        }
        if (!node.isObject()) {
            throw new IllegalArgumentException(
                    "'circuitBreaker' must be an object of failureRate, minimumCalls, window and openFor");
        }
        int failureRate = Breaker.DEFAULT.failureRate();
        int minimumCalls = Breaker.DEFAULT.minimumCalls();
        int window = -1;
        Duration openFor = Breaker.DEFAULT.openFor();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            JsonNode v = f.getValue();
            switch (f.getKey()) {
                case "failureRate" -> failureRate = whole(v, "circuitBreaker.failureRate");
                case "minimumCalls" -> minimumCalls = whole(v, "circuitBreaker.minimumCalls");
                case "window" -> window = whole(v, "circuitBreaker.window");
                case "openFor" -> openFor = duration(node, "openFor", "circuitBreaker.openFor", openFor);
                default ->
                    throw new IllegalArgumentException("unknown field 'circuitBreaker." + f.getKey()
                            + "'; use failureRate, minimumCalls, window or openFor");
            }
        }
        return new Breaker(failureRate, minimumCalls, window < 0 ? Math.max(minimumCalls, 20) : window, openFor);
    }

    private static OrderingMode ordering(String text) {
        if (text == null) {
            return OrderingMode.PER_KEY;
        }
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "per-key", "per_key" -> OrderingMode.PER_KEY;
            case "strict" -> OrderingMode.STRICT;
            case "none" -> OrderingMode.NONE;
            default ->
                throw new IllegalArgumentException("'ordering' must be per-key, strict or none but was '" + text + "'");
        };
    }

    private static String text(JsonNode node, String field, String path, boolean required) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw new IllegalArgumentException("'" + path + "' is missing");
            }
            return null;
        }
        if (!v.isTextual() || v.textValue().isBlank()) {
            throw new IllegalArgumentException("'" + path + "' must be a non-empty string but was " + v);
        }
        return v.textValue();
    }

    private static Duration duration(JsonNode node, String field, String path, Duration otherwise) {
        String text = text(node, field, path, false);
        if (text == null) {
            return otherwise;
        }
        try {
            return StoreSettings.parseDuration(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("'" + path + "': " + e.getMessage(), e);
        }
    }

    private static double number(JsonNode v) {
        if (!v.isNumber()) {
            throw new IllegalArgumentException("must be a number but was " + v);
        }
        return v.doubleValue();
    }

    private static int whole(JsonNode v, String path) {
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new IllegalArgumentException("'" + path + "' must be a whole number but was " + v);
        }
        return v.intValue();
    }

    private static String message(IllegalArgumentException e) {
        String m = e.getMessage();
        return m == null ? "is not valid" : m;
    }

    /** A new random signing secret. */
    static String newSecret() {
        byte[] key = new byte[32];
        RANDOM.nextBytes(key);
        return WebhookSigner.PREFIX + Base64.getEncoder().encodeToString(key);
    }
}
