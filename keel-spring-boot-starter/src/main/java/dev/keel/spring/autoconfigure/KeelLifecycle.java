package dev.keel.spring.autoconfigure;

import dev.keel.Keel;
import dev.keel.ShutdownReport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * Starts Keel's delivery with the application context and stops it gracefully: intake stops, deliveries under way
 * drain within {@code keel.lifecycle.drain-timeout}, the journal closes.
 *
 * <p>Its {@link #PHASE} is below the web server's, so Keel starts before the server takes requests and stops after
 * the server has finished its own graceful shutdown: requests still in flight when shutdown begins can emit. The
 * DataSource closes after every lifecycle bean has stopped, so the outbox relay's last pass still reaches it.
 */
public final class KeelLifecycle implements SmartLifecycle {
    /** Below the web server's phases (the server starts after Keel and stops before it). */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

    private static final Logger log = LoggerFactory.getLogger(KeelLifecycle.class);

    private final Keel keel;
    private final KeelOutbox outbox;
    private final KeelProperties.Lifecycle settings;
    private volatile boolean running;

    KeelLifecycle(Keel keel, KeelOutbox outbox, KeelProperties.Lifecycle settings) {
        this.keel = keel;
        this.outbox = outbox;
        this.settings = settings;
    }

    @Override
    public void start() {
        keel.start();
        outbox.start();
        running = true;
    }

    @Override
    public void stop() {
        running = false;
        try {
            outbox.stop();
        } catch (RuntimeException e) {
            log.warn("the outbox relay's last pass failed; its events stay in the outbox for the next start", e);
        }
        ShutdownReport report = keel.close(settings.drainTimeout());
        if (report.drained()) {
            log.info(
                    "Keel stopped in {} ms, every delivery under way finished",
                    report.took().toMillis());
        } else {
            log.warn(
                    "Keel stopped after {} ms with work left for the next start: {} undelivered, {} pending, {}"
                            + " parked, {} handlers interrupted",
                    report.took().toMillis(),
                    report.undelivered(),
                    report.pending(),
                    report.parked(),
                    report.interrupted());
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public boolean isAutoStartup() {
        return settings.autoStartup();
    }

    @Override
    public int getPhase() {
        return PHASE;
    }
}
