package dev.keel.internal.maintenance;

import dev.keel.spi.Coordination;
import dev.keel.spi.PauseKey;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pauses every instance honours, as last read from the journal (every second, and at once after a change
 * made here): an operator's pause of a subscription, and an open circuit breaker's pause of the subscriptions
 * that use it. Lane runners ask it before each pass; it never blocks them on the journal.
 */
public final class PauseBoard {
    private static final Logger log = LoggerFactory.getLogger(PauseBoard.class);
    private static final Duration REFRESH = Duration.ofSeconds(1);

    private final Coordination store;
    private final Clock clock;
    private final Set<CircuitBreaker> watched =
            Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));
    private volatile Map<PauseKey, Instant> pauses = Map.of();
    private volatile long lastRead = System.nanoTime() - Duration.ofDays(1).toNanos();

    public PauseBoard(Coordination store, Clock clock) {
        this.store = store;
        this.clock = clock;
    }

    /** Reads the stored pauses again, at once or when the last read is a second old. */
    public void refresh(boolean now) {
        long t = System.nanoTime();
        if (!now && t - lastRead < REFRESH.toNanos()) {
            return;
        }
        lastRead = t;
        try {
            pauses = Map.copyOf(store.pauses(clock.instant()));
        } catch (RuntimeException e) {
            log.warn("could not read the stored pauses ({}); using the last ones read", e.toString());
        }
    }

    /** Stores a pause (null {@code until} ends it) and reads the pauses again. */
    public void set(PauseKey key, Instant until) {
        store.pause(key, until);
        refresh(true);
    }

    /** Whether a subscription, or one of its circuit breakers, is paused now. */
    public boolean paused(String subscription, List<String> breakers) {
        Map<PauseKey, Instant> current = pauses;
        if (current.isEmpty()) {
            return false;
        }
        Instant now = clock.instant();
        Instant until = current.get(PauseKey.subscription(subscription));
        if (until != null && until.isAfter(now)) {
            return true;
        }
        for (String breaker : breakers) {
            Instant open = current.get(PauseKey.circuit(breaker));
            if (open != null && open.isAfter(now)) {
                return true;
            }
        }
        return false;
    }

    /** Until when a subscription is paused, by an operator or by an open circuit; null when it is not. */
    public Instant pausedUntil(String subscription, List<String> breakers) {
        Map<PauseKey, Instant> current = pauses;
        Instant until = current.get(PauseKey.subscription(subscription));
        for (String breaker : breakers) {
            Instant open = current.get(PauseKey.circuit(breaker));
            if (open != null && (until == null || open.isAfter(until))) {
                until = open;
            }
        }
        return until;
    }

    /**
     * Shares a circuit breaker's state with every instance: when it opens, its open period is stored as a
     * pause of its name; when it closes, the pause ends. Watching a breaker twice changes nothing.
     */
    public void watch(CircuitBreaker breaker) {
        if (!watched.add(breaker)) {
            return;
        }
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN, FORCED_OPEN ->
                    share(
                            breaker.getName(),
                            clock.instant()
                                    .plusMillis(breaker.getCircuitBreakerConfig()
                                            .getWaitIntervalFunctionInOpenState()
                                            .apply(1)));
                case CLOSED -> share(breaker.getName(), null);
                default -> {}
            }
        });
    }

    private void share(String breaker, Instant until) {
        try {
            set(PauseKey.circuit(breaker), until);
        } catch (RuntimeException e) {
            log.warn(
                    "could not share that circuit '{}' {}: {}",
                    breaker,
                    until == null ? "closed" : "opened",
                    e.toString());
        }
    }
}
