package dev.keel.cli;

import java.util.Map;
import java.util.Set;

/**
 * {@code KEEL_LOG_FORMAT}: {@code text} (the default) or {@code json}, read by logback.xml to pick its appender.
 * Checked by {@code keel serve}, since logback given another value would log nothing at all.
 */
final class LogFormat {
    /** The variable. */
    static final String VARIABLE = "KEEL_LOG_FORMAT";

    private static final Set<String> FORMATS = Set.of("text", "json");

    private LogFormat() {}

    /**
     * @throws IllegalArgumentException when the variable is set to a format logback.xml has no appender for
     */
    static void check(Map<String, String> env) {
        String value = env.get(VARIABLE);
        if (value != null && !FORMATS.contains(value)) {
            throw new IllegalArgumentException(
                    VARIABLE + " must be 'text' or 'json' (lower case) but was '" + value + "'");
        }
    }
}
