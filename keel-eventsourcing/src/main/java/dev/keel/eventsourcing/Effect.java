package dev.keel.eventsourcing;

import dev.keel.EventType;
import java.time.Duration;
import java.util.Objects;

/**
 * What a decision asks to happen beyond its own events, once they are committed: values a decider returns. They
 * are to be carried out through the journal, never as a second write beside it, by the command handling that is
 * still to be built (docs/event-sourcing.md); a decision with effects must have events for them to follow.
 */
public sealed interface Effect permits Effect.Emit, Effect.Send, Effect.Schedule {

    /**
     * Emits an event of this type, ordering key (or null) and data to other subscribers. Its id and time are
     * given when it is carried out, not here, so that deciding twice decides the same.
     */
    record Emit(String type, String key, Object data) implements Effect {
        public Emit {
            EventType.requireValid(type);
        }
    }

    /** Sends a command to the aggregate of another (or the same) stream. */
    record Send(String streamId, Object command) implements Effect {
        public Send {
            requireStream(streamId);
            Objects.requireNonNull(command, "command");
        }
    }

    /**
     * Sends a command to a stream after a delay: a durable timeout when the stream is the decider's own, which its
     * decider then handles only in the states that expect it.
     */
    record Schedule(String streamId, Object command, Duration delay) implements Effect {
        public Schedule {
            requireStream(streamId);
            Objects.requireNonNull(command, "command");
            if (delay == null || delay.isNegative()) {
                throw new IllegalArgumentException("a scheduled command needs a delay of zero or more, not " + delay);
            }
        }
    }

    /** See {@link Emit}. */
    static Effect emit(String type, String key, Object data) {
        return new Emit(type, key, data);
    }

    /** See {@link Send}. */
    static Effect send(String streamId, Object command) {
        return new Send(streamId, command);
    }

    /** See {@link Schedule}. */
    static Effect schedule(String streamId, Object command, Duration delay) {
        return new Schedule(streamId, command, delay);
    }

    private static void requireStream(String streamId) {
        if (streamId == null || streamId.isBlank()) {
            throw new IllegalArgumentException("an effect's stream id must not be blank");
        }
    }
}
