package dev.keel;

import java.time.Instant;

/**
 * What went wrong in one delivery attempt.
 *
 * @param attempt the attempt number, starting at 1
 * @param at when the attempt failed
 * @param errorType the exception's class name
 * @param message the exception's message, may be null
 */
public record AttemptError(int attempt, Instant at, String errorType, String message) {
    /** The record of an attempt that threw. */
    public static AttemptError of(int attempt, Instant at, Throwable error) {
        return new AttemptError(attempt, at, error.getClass().getName(), error.getMessage());
    }

    @Override
    public String toString() {
        return "attempt " + attempt + " at " + at + ": " + errorType + (message == null ? "" : ": " + message);
    }
}
