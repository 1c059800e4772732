package dev.keel.cli;

import dev.keel.jdbc.StoreSettings;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Where the SQLite journal of {@code keel serve} is, found as {@code keel serve} finds it: {@code --data-dir}, then
 * {@code KEEL_DATA_DIR}, then {@code dataDir} of {@code --config}, then {@code ./keel-data}; a
 * {@code jdbc:sqlite:} URL in {@code KEEL_JDBC_URL} names the file instead. Other engines are refused with what
 * to use in their place. The options {@code keel backup} and {@code keel restore} share.
 */
final class JournalLocation {
    /** Where the procedures for every engine are written down. */
    static final String DOCS = "docs/backup-and-recovery.md";

    @Option(
            names = "--data-dir",
            description = "Directory of the SQLite journal keel.db (KEEL_DATA_DIR; default ./keel-data), as for"
                    + " keel serve.")
    String dataDir;

    @Option(names = "--config", description = "The YAML file of keel serve, for its dataDir.")
    Path config;

    /**
     * The journal's file.
     *
     * @param environment the process's environment ({@code KEEL_*})
     * @param command the command's name, for the refusals ("backup", "restore")
     * @param verb what it does ("back up", "restore")
     * @throws Refused when the configured engine is not SQLite
     */
    Path sqliteFile(Map<String, String> environment, String command, String verb) {
        Map<String, String> env = new HashMap<>(environment);
        if (config != null) {
            ServeConfig file = ServeConfig.load(config);
            if (file.dataDir() != null) {
                env.putIfAbsent("KEEL_DATA_DIR", file.dataDir());
            }
        }
        if (dataDir != null) {
            env.put("KEEL_DATA_DIR", dataDir);
        }
        String engine = env.getOrDefault("KEEL_STORE", "sqlite").trim().toLowerCase(Locale.ROOT);
        switch (engine) {
            case "postgres", "postgresql" ->
                throw new Refused("keel " + command + " works on a SQLite journal, and KEEL_STORE is "
                        + engine + ": " + verb + " PostgreSQL with pg_dump -Fc and pg_restore (" + DOCS
                        + "#postgresql)");
            case "kafka", "redis" ->
                throw new Refused("keel " + command + " works on a SQLite journal, and KEEL_STORE is " + engine + ": "
                        + DOCS + "#" + engine + " says what a backup means there");
            case "memory" ->
                throw new Refused("KEEL_STORE is memory: that journal is lost when the process ends; there is"
                        + " nothing to " + verb);
            default -> {
                // sqlite, or a name StoreSettings refuses with the names it takes
            }
        }
        StoreSettings settings = StoreSettings.fromEnvironment(env);
        return Path.of(settings.url().substring("jdbc:sqlite:".length()))
                .toAbsolutePath()
                .normalize();
    }

    /**
     * A backup or restore refused before anything was changed: the message says why and what to do. Exit code 2,
     * as for any configuration the command cannot act on.
     */
    static final class Refused extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        Refused(String message) {
            super(message);
        }

        Refused(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
