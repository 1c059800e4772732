package dev.keel.internal.lanes;

import dev.keel.internal.payload.PayloadCodec;
import dev.keel.internal.telemetry.Telemetry;
import dev.keel.spi.DeadLetterStore;
import dev.keel.spi.EventLog;
import java.time.Clock;
import java.util.random.RandomGenerator;

/**
 * What a lane worker may ask of the runtime around it, and nothing more: the log, the clock, whether it may
 * deliver a lane now, and where to report. The runtime implements it; tests may too.
 */
public interface LaneContext {

    EventLog log();

    DeadLetterStore deadLetterStore();

    Clock clock();

    /** Jitter for retry delays. */
    RandomGenerator random();

    PayloadCodec codec();

    Telemetry telemetry();

    DeliveryScope deliveryScope();

    /** Records read per pass. */
    int batchSize();

    /** Nanoseconds since the runtime was built, at the watchdog's resolution: a clock read for free. */
    long coarseNanos();

    /** Whether delivery loops run (started and not closing). */
    boolean running();

    /** Whether a started runtime is closing: passes stop between deliveries. */
    boolean stopping();

    /** Whether this instance may deliver the lane now (always, unless lanes are leased). */
    boolean holds(int lane);

    /** The fencing token to commit the lane's outcomes with. */
    long fence(int lane);

    /** Whether lanes are leased (a journal several instances share): only then can a lane's fence change. */
    boolean leased();

    /** Whether a stored pause (an operator's or an open circuit's) holds the subscription back now. */
    boolean pausedByStore(SubscriptionRuntime subscription);

    /** The subscription's dead letters changed (added, or taken back): recount them. */
    void deadLettersChanged(SubscriptionRuntime subscription);

    /** Starts a delivery loop on a thread of its own (a virtual thread: handlers block on I/O). */
    Thread startRunner(String name, Runnable loop);
}
