package dev.keel.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Delivery;
import dev.keel.Handler;
import dev.keel.KeelMeter;
import dev.keel.PermanentFailureException;
import dev.keel.RetryAfterException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Posts each delivered event to a webhook as a structured-mode CloudEvent signed per Standard Webhooks, and
 * turns the answer into the runtime's outcome: 2xx acknowledges; 408, 429, 5xx, timeouts and connection
 * errors fail the attempt so it is retried (after {@code Retry-After} when the receiver sends one); any
 * other status is permanent and dead-letters the event at once. It honours cancellation: an interrupt (the
 * subscription's delivery timeout, a shutdown) aborts the request at once.
 */
final class WebhookTarget implements Handler<Object> {
    /** The longest {@code Retry-After} honoured; a receiver asking for more gets its retry after a day. */
    static final Duration MAX_RETRY_AFTER = Duration.ofDays(1);

    private static final int SNIPPET_BYTES = 300;
    /** The header carrying when the attempt's time is up (RFC 3339, UTC), so the receiver can budget its work. */
    static final String DEADLINE_HEADER = "keel-deadline";

    /** How long a receiver may take to send its body after its headers. */
    private static final Duration BODY_GRACE = Duration.ofSeconds(2);

    private final URI url;
    private final Duration timeout;
    private final WebhookSigner signer;
    private final HttpClient client;
    private final ObjectMapper mapper;
    private final Clock clock;
    private final boolean allowPrivate;
    private final io.micrometer.core.instrument.MeterRegistry registry;
    private final String subscription;

    WebhookTarget(
            WebhookSubscription s,
            HttpClient client,
            ObjectMapper mapper,
            Clock clock,
            boolean allowPrivate,
            io.micrometer.core.instrument.MeterRegistry registry) {
        this.allowPrivate = allowPrivate;
        this.registry = registry;
        this.subscription = s.deliveryName();
        this.url = s.url();
        this.timeout = s.timeout();
        this.signer = WebhookSigner.of(s);
        this.client = client;
        this.mapper = mapper;
        this.clock = clock;
    }

    @Override
    public void handle(Delivery<Object> delivery) throws Exception {
        if (!allowPrivate) {
            // Again at each delivery: the name may resolve elsewhere than when the subscription was made.
            try {
                checkPublic(url);
            } catch (IllegalArgumentException e) {
                if (e.getCause() instanceof java.net.UnknownHostException) {
                    throw new WebhookDeliveryException(e.getMessage(), e.getCause());
                }
                throw new PermanentFailureException(e.getMessage(), e);
            }
        }
        byte[] body = mapper.writeValueAsBytes(CloudEventJson.structured(delivery.event()));
        String id = messageId(delivery.event().source(), delivery.event().id());
        long timestamp = clock.instant().getEpochSecond();
        HttpRequest.Builder builder = HttpRequest.newBuilder(url)
                .timeout(timeout)
                .header("Content-Type", CloudEventReader.STRUCTURED)
                .header("User-Agent", "keel-webhooks")
                .header("webhook-id", id)
                .header("webhook-timestamp", Long.toString(timestamp))
                .header("webhook-signature", signer.sign(id, timestamp, body));
        // The receiver's own calls can bound themselves by what is left: the request's timeout, or the attempt's
        // deadline when that comes first.
        java.time.Instant deadline = clock.instant().plus(timeout);
        if (delivery.deadline() != null && delivery.deadline().isBefore(deadline)) {
            deadline = delivery.deadline();
        }
        builder.header(DEADLINE_HEADER, deadline.toString());
        HttpRequest request =
                builder.POST(HttpRequest.BodyPublishers.ofByteArray(body)).build();
        HttpResponse<String> response = send(request);
        int status = response.statusCode();
        String snippet = response.body();
        if (status >= 200 && status < 300) {
            return;
        }
        String what = "HTTP " + status + " from " + url + (snippet.isEmpty() ? "" : ": " + snippet);
        if (status == 408 || status == 429 || status >= 500) {
            Duration after =
                    retryAfter(response.headers().firstValue("Retry-After").orElse(null));
            if (after != null) {
                throw new RetryAfterException(what + " (retry after " + after + ")", after);
            }
            throw new WebhookDeliveryException(what, null);
        }
        throw new PermanentFailureException(what + " (a status that is not retried)");
    }

    /**
     * Refuses a URL whose host resolves to this machine or a private network (loopback, site-local, link-local
     * such as cloud metadata addresses, carrier-grade NAT, NAT64, unique-local IPv6, wildcard, multicast), so
     * that a tenant's webhook cannot reach what only the server can.
     *
     * @throws IllegalArgumentException naming the address, or (with an {@link java.net.UnknownHostException}
     *     cause) when the host does not resolve
     */
    static void checkPublic(URI url) {
        java.net.InetAddress[] addresses;
        try {
            addresses = java.net.InetAddress.getAllByName(url.getHost());
        } catch (java.net.UnknownHostException e) {
            throw new IllegalArgumentException("the host of 'webhook.url' (" + url.getHost() + ") does not resolve", e);
        }
        for (java.net.InetAddress a : addresses) {
            byte[] b = a.getAddress();
            boolean uniqueLocal = a instanceof java.net.Inet6Address && (b[0] & 0xFE) == 0xFC;
            // 100.64.0.0/10, carrier-grade NAT (some clouds' metadata services live there)
            boolean sharedSpace = b.length == 4 && (b[0] & 0xFF) == 100 && (b[1] & 0xC0) == 64;
            // 64:ff9b::/96, IPv4 addresses translated by NAT64 (which may be private ones)
            boolean nat64 = b.length == 16
                    && b[0] == 0
                    && b[1] == 0x64
                    && (b[2] & 0xFF) == 0xFF
                    && (b[3] & 0xFF) == 0x9B
                    && java.util.Arrays.equals(b, 4, 12, new byte[8], 0, 8);
            if (a.isLoopbackAddress()
                    || sharedSpace
                    || nat64
                    || a.isSiteLocalAddress()
                    || a.isLinkLocalAddress()
                    || a.isAnyLocalAddress()
                    || a.isMulticastAddress()
                    || uniqueLocal) {
                throw new IllegalArgumentException("'webhook.url' " + url + " resolves to " + a.getHostAddress()
                        + ", a loopback or private address; webhooks go to public addresses only unless the server"
                        + " allows private targets (webhooks.allowPrivateTargets)");
            }
        }
    }

    /** The {@code webhook-id}: the same for every attempt of an event, different for different events. */
    static String messageId(String source, String eventId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((source + "\n" + eventId).getBytes(StandardCharsets.UTF_8));
            return "msg_"
                    + Base64.getUrlEncoder()
                            .withoutPadding()
                            .encodeToString(digest)
                            .substring(0, 27);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /** A {@code Retry-After} value (seconds or an HTTP date) as a delay; null when absent or unreadable. */
    Duration retryAfter(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        String v = value.trim();
        Duration d;
        if (v.chars().allMatch(Character::isDigit)) {
            try {
                d = Duration.ofSeconds(Long.parseLong(v));
            } catch (NumberFormatException e) {
                d = MAX_RETRY_AFTER;
            }
        } else {
            try {
                d = Duration.between(clock.instant(), ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME));
            } catch (DateTimeParseException e) {
                return null;
            }
        }
        if (d.isNegative()) {
            return Duration.ZERO;
        }
        return d.compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : d;
    }

    /**
     * Sends the request and waits for the answer, the request's timeout and a little more for its body at most.
     * An interrupt (the subscription's timeout, a shutdown) cancels the exchange at once: the handler never
     * outlives what the runtime gives it.
     */
    private HttpResponse<String> send(HttpRequest request) throws InterruptedException {
        long start = System.nanoTime();
        String outcome = "io_error";
        CompletableFuture<HttpResponse<String>> call = client.sendAsync(request, info -> new Snippet());
        try {
            HttpResponse<String> response = call.get(timeout.plus(BODY_GRACE).toNanos(), TimeUnit.NANOSECONDS);
            outcome = STATUS_CLASSES[Math.clamp(response.statusCode() / 100, 0, STATUS_CLASSES.length - 1)];
            return response;
        } catch (InterruptedException e) {
            outcome = "interrupted";
            call.cancel(true);
            throw e;
        } catch (TimeoutException e) {
            outcome = "timeout";
            call.cancel(true);
            throw new WebhookDeliveryException(
                    "no complete answer from " + url + " within " + timeout.plus(BODY_GRACE), e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof HttpTimeoutException) {
                outcome = "timeout";
                throw new WebhookDeliveryException("no answer from " + url + " within " + timeout, cause);
            }
            if (cause instanceof ConnectException) {
                outcome = "connect_error";
                throw new WebhookDeliveryException("cannot connect to " + url + ": " + describe(cause), cause);
            }
            throw new WebhookDeliveryException("the request to " + url + " failed: " + describe(cause), cause);
        } finally {
            io.micrometer.core.instrument.Timer.builder(KeelMeter.WEBHOOK_CALLS.meterName())
                    .description(KeelMeter.WEBHOOK_CALLS.description())
                    .tag("subscription", subscription)
                    .tag("outcome", outcome)
                    .register(registry)
                    .record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        }
    }

    /** The outcome tag of an answer, by its status class. */
    private static final String[] STATUS_CLASSES = {"io_error", "1xx", "2xx", "3xx", "4xx", "5xx"};

    /** Removes a subscription's webhook call meters (it was deleted, or runs under another name now). */
    static void removeMeters(io.micrometer.core.instrument.MeterRegistry registry, String subscription) {
        registry.find(KeelMeter.WEBHOOK_CALLS.meterName())
                .tag("subscription", subscription)
                .meters()
                .forEach(registry::remove);
    }

    /**
     * Keeps the start of the answer's body, for the error history, and drains a little more so the connection
     * can be reused; a longer body is cut off (the connection then closes).
     */
    private static final class Snippet implements HttpResponse.BodySubscriber<String> {
        private static final long DRAIN_BYTES = 64 * 1024;

        private final CompletableFuture<String> body = new CompletableFuture<>();
        private final byte[] head = new byte[SNIPPET_BYTES];
        private int kept;
        private long seen;
        private Flow.Subscription subscription;

        @Override
        public CompletionStage<String> getBody() {
            return body;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            for (ByteBuffer b : items) {
                int n = Math.min(b.remaining(), head.length - kept);
                b.get(head, kept, n);
                kept += n;
                seen += n + b.remaining();
            }
            if (seen > DRAIN_BYTES) {
                subscription.cancel();
                onComplete();
            }
        }

        @Override
        public void onError(Throwable error) {
            body.completeExceptionally(error);
        }

        @Override
        public void onComplete() {
            body.complete(
                    new String(head, 0, kept, StandardCharsets.UTF_8).strip().replaceAll("\\s+", " "));
        }
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
