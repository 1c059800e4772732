package dev.keel.eventsourcing;

import java.util.Objects;

/**
 * Why a decider refused a command: a stable code for programs ({@code "insufficient-stock"}) and a message for
 * people. A rejection is an answer, not a fault: nothing is appended and nothing is retried.
 *
 * @param code what went wrong, in a form callers can switch on; not blank
 * @param message what went wrong and what to do, for people; not blank
 */
public record Rejection(String code, String message) {
    public Rejection {
        if (code == null || code.isBlank()) {
            throw new IllegalArgumentException("a rejection needs a code such as 'insufficient-stock'");
        }
        Objects.requireNonNull(message, "message");
        if (message.isBlank()) {
            throw new IllegalArgumentException("rejection '" + code + "' needs a message saying why");
        }
    }
}
