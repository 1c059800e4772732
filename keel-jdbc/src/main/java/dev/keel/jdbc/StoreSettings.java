package dev.keel.jdbc;

import dev.keel.Keel;
import dev.keel.memory.MemoryJournal;
import dev.keel.spi.Journal;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Where and how a runtime stores its journal, read once from the environment at start:
 *
 * <table>
 *   <caption>Environment variables</caption>
 *   <tr><th>variable</th><th>meaning</th><th>default</th></tr>
 *   <tr><td>{@code KEEL_STORE}</td><td>{@code sqlite}, {@code postgres} or {@code memory}</td><td>{@code sqlite}</td></tr>
 *   <tr><td>{@code KEEL_DATA_DIR}</td><td>directory of the SQLite file {@code keel.db}</td><td>{@code ./keel-data}</td></tr>
 *   <tr><td>{@code KEEL_JDBC_URL}</td><td>a JDBC URL; required for postgres, overrides the data dir for sqlite</td><td></td></tr>
 *   <tr><td>{@code KEEL_JDBC_USER}, {@code KEEL_JDBC_PASSWORD}</td><td>credentials</td><td></td></tr>
 *   <tr><td>{@code KEEL_POOL_SIZE}</td><td>database connections</td><td>8</td></tr>
 *   <tr><td>{@code KEEL_LANES}</td><td>lanes (fixed once a journal exists)</td><td>8</td></tr>
 *   <tr><td>{@code KEEL_RETENTION}</td><td>how long passed events are kept: {@code 250ms}, {@code 2s}, {@code 1m},
 *       {@code 6h}, {@code 7d} or ISO-8601</td><td>{@code 0s}</td></tr>
 * </table>
 *
 * @param store which engine
 * @param url the JDBC URL (null for memory)
 * @param user database user, may be null
 * @param password database password, may be null
 * @param poolSize database connections
 * @param lanes lanes of the runtime
 * @param retention how long events every subscription passed are kept
 */
public record StoreSettings(
        Store store, String url, String user, String password, int poolSize, int lanes, Duration retention) {

    /** The engines. */
    public enum Store {
        MEMORY,
        SQLITE,
        POSTGRES
    }

    public StoreSettings {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(retention, "retention");
        if (store != Store.MEMORY && (url == null || url.isBlank())) {
            throw new IllegalArgumentException("KEEL_STORE=" + store.name().toLowerCase(Locale.ROOT)
                    + " needs KEEL_JDBC_URL, for example jdbc:postgresql://127.0.0.1:5432/keel");
        }
    }

    /** Reads the settings from environment variables (see the class description). */
    public static StoreSettings fromEnvironment(Map<String, String> env) {
        String storeName = env.getOrDefault("KEEL_STORE", "sqlite").trim().toLowerCase(Locale.ROOT);
        Store store =
                switch (storeName) {
                    case "memory" -> Store.MEMORY;
                    case "sqlite" -> Store.SQLITE;
                    case "postgres", "postgresql" -> Store.POSTGRES;
                    default ->
                        throw new IllegalArgumentException(
                                "KEEL_STORE is '" + storeName + "'; use sqlite (the default), postgres or memory"
                                        + " (keel serve also runs on kafka)");
                };
        String url = blankToNull(env.get("KEEL_JDBC_URL"));
        if (store == Store.SQLITE && url == null) {
            Path dir = Path.of(env.getOrDefault("KEEL_DATA_DIR", "./keel-data"));
            url = "jdbc:sqlite:" + dir.resolve("keel.db");
        }
        if (store == Store.POSTGRES && url != null && !url.startsWith("jdbc:postgresql:")) {
            throw new IllegalArgumentException(
                    "KEEL_STORE=postgres needs a jdbc:postgresql:// URL in KEEL_JDBC_URL, but it is '" + url + "'");
        }
        if (store == Store.SQLITE && !url.startsWith("jdbc:sqlite:")) {
            throw new IllegalArgumentException(
                    "KEEL_STORE=sqlite needs a jdbc:sqlite:<file> URL in KEEL_JDBC_URL, but it is '" + url + "'");
        }
        return new StoreSettings(
                store,
                store == Store.MEMORY ? null : url,
                blankToNull(env.get("KEEL_JDBC_USER")),
                blankToNull(env.get("KEEL_JDBC_PASSWORD")),
                intSetting(env, "KEEL_POOL_SIZE", JdbcJournal.DEFAULT_POOL_SIZE, 3, 200),
                intSetting(env, "KEEL_LANES", Keel.Builder.DEFAULT_LANES, 1, 1024),
                durationSetting(env, "KEEL_RETENTION", Duration.ZERO));
    }

    /** A new, unopened journal for these settings. */
    public Journal journal() {
        return switch (store) {
            case MEMORY -> new MemoryJournal();
            case SQLITE, POSTGRES ->
                JdbcJournal.builder()
                        .url(url, user, password)
                        .poolSize(poolSize)
                        .build();
        };
    }

    /** Applies the journal, lanes and retention to a runtime builder. */
    public Keel.Builder applyTo(Keel.Builder builder) {
        return builder.journal(journal()).lanes(lanes).retention(retention);
    }

    /**
     * Parses a duration such as {@code 250ms}, {@code 2s}, {@code 1m}, {@code 6h}, {@code 7d}, or ISO-8601
     * ({@code PT2S}).
     *
     * @throws IllegalArgumentException naming the value and the forms accepted
     */
    public static Duration parseDuration(String text) {
        String t = text.trim();
        try {
            if (t.startsWith("P") || t.startsWith("p")) {
                return Duration.parse(t.toUpperCase(Locale.ROOT));
            }
            int split = 0;
            while (split < t.length() && Character.isDigit(t.charAt(split))) {
                split++;
            }
            if (split == 0 || split == t.length()) {
                throw new NumberFormatException();
            }
            long n = Long.parseLong(t.substring(0, split));
            return switch (t.substring(split)) {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                case "d" -> Duration.ofDays(n);
                default -> throw new NumberFormatException();
            };
        } catch (NumberFormatException | DateTimeParseException | ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is not a duration; use a whole number with ms, s, m, h"
                    + " or d (250ms, 2s, 1m, 6h, 7d), or ISO-8601 such as PT2S");
        }
    }

    private static int intSetting(Map<String, String> env, String name, int fallback, int min, int max) {
        String value = blankToNull(env.get(name));
        if (value == null) {
            return fallback;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n < min || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    name + " must be a whole number from " + min + " to " + max + " but was '" + value + "'");
        }
    }

    private static Duration durationSetting(Map<String, String> env, String name, Duration fallback) {
        String value = blankToNull(env.get(name));
        if (value == null) {
            return fallback;
        }
        try {
            return parseDuration(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s;
    }
}
