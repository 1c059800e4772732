package dev.keel;

import java.time.Duration;

/**
 * What {@link Keel#close(Duration)} finished and what it left.
 *
 * @param drained true when every subscription had caught up before the deadline
 * @param took how long closing took
 * @param undelivered events appended that some subscription had not passed yet
 * @param pending deliveries waiting for a retry or their time (kept by a durable journal)
 * @param parked deliveries parked behind a failing event (kept by a durable journal)
 * @param interrupted handlers still running at the deadline, interrupted
 */
public record ShutdownReport(
        boolean drained, Duration took, long undelivered, long pending, long parked, int interrupted) {}
