package dev.keel.cli;

import dev.keel.jdbc.SqliteJournalFile;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code keel backup <file>}: a consistent copy of the SQLite journal, taken while {@code keel serve} runs on it.
 *
 * <p>The copy is SQLite's online backup of every page in one step ({@link SqliteJournalFile}): one read
 * transaction, so the copy is the journal as of one commit, and in write-ahead-log mode a reader never blocks the
 * writer, so ingest and deliveries go on while it runs. {@code VACUUM INTO} would be as consistent but rebuilds every
 * table and index, holding the snapshot open longer; the backup API in small steps (sqlite-jdbc's {@code backup to}
 * statement) starts over whenever the server commits between two steps, so under load it may never end. The copy
 * is checked ({@code PRAGMA integrity_check}, Keel's schema history) and synced before it takes its name.
 */
@Command(
        name = "backup",
        mixinStandardHelpOptions = true,
        description = "Copy the SQLite journal, consistently, while keel serve runs on it.",
        footer = {
            "",
            "The copy holds every event, cursor, retry and dead letter as of one commit,",
            "and the webhook subscriptions kept in the journal. The server is not paused.",
            "PostgreSQL: pg_dump -Fc. Kafka, Redis: see docs/backup-and-recovery.md."
        })
final class BackupCommand implements Callable<Integer> {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    JournalLocation location;

    @Parameters(paramLabel = "FILE", description = "The backup file to write; it must not exist (see --force).")
    Path target;

    @Option(names = "--force", description = "Replace FILE if it exists (once the new copy is complete).")
    boolean force;

    /** The environment the journal is found in; a test may set another. */
    Map<String, String> environment;

    BackupCommand() {
        this(System.getenv());
    }

    BackupCommand(Map<String, String> environment) {
        this.environment = environment;
    }

    @Override
    public Integer call() {
        Path source = location.sqliteFile(environment, "backup", "back up");
        Path to = target.toAbsolutePath().normalize();
        if (!Files.exists(source)) {
            throw new JournalLocation.Refused("there is no journal at " + source
                    + "; name its directory with --data-dir (or KEEL_DATA_DIR, as for keel serve)");
        }
        if (to.equals(source)) {
            throw new JournalLocation.Refused("FILE is the journal itself (" + source + "); name another file");
        }
        if (Files.exists(to) && !force) {
            throw new JournalLocation.Refused(
                    "'" + to + "' exists; Keel left it untouched. Name a new file, or add --force to replace it");
        }
        if (Files.isDirectory(to)) {
            throw new JournalLocation.Refused("'" + to + "' is a directory; name a file, such as "
                    + to.resolve("keel-" + java.time.LocalDate.now() + ".db"));
        }
        if (to.getParent() != null && !Files.isDirectory(to.getParent())) {
            throw new JournalLocation.Refused("the directory " + to.getParent() + " does not exist; create it first");
        }
        SqliteJournalFile.Contents copy;
        try {
            copy = new SqliteJournalFile(source).backupTo(to, force);
        } catch (SqliteJournalFile.Unusable e) {
            throw new JournalLocation.Refused(e.getMessage() + "; nothing was written to " + to, e);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("keel backup: copied %s to %s%n", source, copy.file());
        describe(out, copy);
        out.flush();
        return 0;
    }

    /** Prints what a journal file holds. */
    static void describe(PrintWriter out, SqliteJournalFile.Contents c) {
        out.printf(
                "  schema version %d, %d lanes, %d events, %d subscriptions with cursors, %d dead letters, %d bytes%n",
                c.schemaVersion(), c.lanes(), c.events(), c.subscriptions(), c.deadLetters(), c.bytes());
    }
}
