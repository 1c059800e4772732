package dev.keel;

/**
 * The grammar of event types: dot-separated segments, each made of ASCII letters, digits, {@code _} and
 * {@code -}, the first starting with a letter, at most {@value #MAX_LENGTH} characters in all. Examples:
 * {@code order.created}, {@code com.example.payment.failed}.
 */
public final class EventType {
    /** The longest type accepted. */
    public static final int MAX_LENGTH = 200;

    private EventType() {}

    /**
     * Checks a type against the grammar.
     *
     * @throws InvalidEventException naming the type and what is wrong with it
     */
    public static String requireValid(String type) {
        if (type == null) {
            throw new InvalidEventException("event type is missing; give a dotted type such as 'order.created'");
        }
        String problem = problem(type);
        if (problem != null) {
            throw new InvalidEventException("event type '" + type + "' is invalid: " + problem
                    + "; use dotted segments of letters, digits, '_' and '-', such as 'order.created'");
        }
        return type;
    }

    /** Whether a type follows the grammar. */
    public static boolean isValid(String type) {
        return type != null && problem(type) == null;
    }

    private static String problem(String type) {
        int n = type.length();
        if (n == 0 || type.isBlank()) {
            return "it is blank";
        }
        if (n > MAX_LENGTH) {
            return "it is " + n + " characters long, over the limit of " + MAX_LENGTH;
        }
        char first = type.charAt(0);
        if (!isLetter(first)) {
            return "it must start with a letter";
        }
        boolean segmentStart = false;
        for (int i = 1; i < n; i++) {
            char c = type.charAt(i);
            if (c == '.') {
                if (segmentStart) {
                    return "it has an empty segment";
                }
                segmentStart = true;
            } else if (isLetter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-') {
                segmentStart = false;
            } else {
                return "character '" + c + "' at position " + i + " is not allowed";
            }
        }
        return segmentStart ? "it ends with a dot" : null;
    }

    private static boolean isLetter(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
}
