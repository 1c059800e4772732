package dev.keel.eventsourcing;

/**
 * A command or event that no decider of a combination takes, or that two would: a wiring fault (a command sent
 * to the wrong aggregate, an event written by another), never a domain answer, which is a {@link Rejection}.
 */
public class UnknownMessageException extends IllegalArgumentException {
    /** A {@code kind} ("command" or "event") of this value that none of the {@code handled} types covers. */
    public UnknownMessageException(String kind, Object value, Class<?>... handled) {
        super(describe(kind, value, handled));
    }

    private static String describe(String kind, Object value, Class<?>... handled) {
        StringBuilder types = new StringBuilder();
        for (Class<?> c : handled) {
            types.append(types.isEmpty() ? "" : ", ").append(c.getName());
        }
        return "not exactly one decider here takes the " + kind + " "
                + (value == null ? "null" : value.getClass().getName()) + "; they take " + types
                + ". Send it to the aggregate that handles it.";
    }
}
