package dev.keel.cli;

import dev.keel.jdbc.SqliteJournalFile;
import dev.keel.spi.JournalException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code keel restore <backup>}: puts a backup taken by {@code keel backup} in place as the SQLite journal of a data
 * directory.
 *
 * <p>Everything is checked before anything is touched: the backup's integrity and schema version (one newer than
 * this Keel knows is refused), that no process holds the journal in place (SQLite's exclusive lock, which every
 * open connection of a journal in write-ahead-log mode prevents, asked for with a short wait), and that
 * {@code --force} is given when a journal is there. The journal in place is then moved aside, never deleted, with
 * its write-ahead log; the backup is copied beside it under a temporary name, checked again, synced, and renamed.
 * A server started before the rename finishes is not detected: restore while the server is stopped.
 */
@Command(
        name = "restore",
        mixinStandardHelpOptions = true,
        description = "Put a backup from keel backup in place as the journal of a data directory (server stopped).",
        footer = {
            "",
            "Stop keel serve first (SIGTERM drains it). A journal already there is refused",
            "unless --force, which moves it aside as keel.db.replaced-<time>. Then start",
            "keel serve on the directory: it migrates an older schema, and deliveries",
            "resume from the backup's cursors (events after them are delivered again)."
        })
final class RestoreCommand implements Callable<Integer> {
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    JournalLocation location;

    @Parameters(paramLabel = "BACKUP", description = "The backup file written by keel backup.")
    Path backup;

    @Option(names = "--force", description = "Replace a journal that is there; it is moved aside, not deleted.")
    boolean force;

    /** The environment the journal is found in; a test may set another. */
    Map<String, String> environment;

    private final Clock clock = Clock.systemUTC();

    RestoreCommand() {
        this(System.getenv());
    }

    RestoreCommand(Map<String, String> environment) {
        this.environment = environment;
    }

    @Override
    public Integer call() throws IOException {
        Path target = location.sqliteFile(environment, "restore", "restore");
        Path from = backup.toAbsolutePath().normalize();
        if (from.equals(target)) {
            throw new JournalLocation.Refused("BACKUP is the journal in place (" + target + "); name a backup file");
        }
        SqliteJournalFile.Contents contents = checkBackup(from);
        List<Path> present = journalFiles(target).stream().filter(Files::exists).toList();
        if (!present.isEmpty()) {
            if (!force) {
                throw new JournalLocation.Refused("a journal is already at " + target
                        + "; nothing was changed. Restore into another --data-dir, or stop the server on it and add"
                        + " --force to move it aside (it is kept as " + target.getFileName() + ".replaced-<time>)");
            }
            if (heldByAProcess(target)) {
                throw new JournalLocation.Refused("a process holds the journal " + target
                        + " (a running keel serve?); nothing was changed. Stop it (SIGTERM drains it), then restore"
                        + " again");
            }
        }
        Files.createDirectories(target.getParent());
        Path aside = present.isEmpty() ? null : moveAside(target);
        Path restoring = target.resolveSibling(target.getFileName() + ".restoring-" + UUID.randomUUID());
        try {
            Files.copy(from, restoring);
            try (FileChannel channel = FileChannel.open(restoring, StandardOpenOption.WRITE)) {
                channel.force(true);
            }
            new SqliteJournalFile(restoring).inspect(); // the copy reads back as the backup did
            Files.move(restoring, target, StandardCopyOption.ATOMIC_MOVE);
            syncDirectory(target.getParent());
        } catch (IOException | JournalException e) {
            Files.deleteIfExists(restoring);
            String old = aside == null
                    ? "; nothing was changed"
                    : moveBack(aside, target)
                            ? "; the journal that was there is back in place"
                            : "; the journal that was there is kept as " + aside;
            throw new JournalException("could not restore " + from + " to " + target + ": " + e.getMessage() + old, e);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("keel restore: restored %s to %s%n", from, target);
        BackupCommand.describe(out, contents);
        if (aside != null) {
            out.printf("  the journal that was there is kept as %s%n", aside);
        }
        out.printf("  start the server on it: keel serve --data-dir %s%n", target.getParent());
        out.flush();
        return 0;
    }

    /** The backup's contents, once it has proven whole and of a schema this Keel knows. */
    private static SqliteJournalFile.Contents checkBackup(Path from) {
        if (Files.exists(Path.of(from + "-wal"))) {
            throw new JournalLocation.Refused("'" + from + "' has a write-ahead log beside it (" + from.getFileName()
                    + "-wal): it is a journal in use or not closed cleanly, not a backup from keel backup. Take one"
                    + " with keel backup --data-dir " + from.getParent());
        }
        SqliteJournalFile.Contents contents;
        try {
            contents = new SqliteJournalFile(from).inspect();
        } catch (SqliteJournalFile.Unusable e) {
            throw new JournalLocation.Refused(e.getMessage() + "; nothing was changed", e);
        }
        int known = SqliteJournalFile.knownSchemaVersion();
        if (contents.schemaVersion() > known) {
            throw new JournalLocation.Refused("'" + from + "' has schema version " + contents.schemaVersion()
                    + ", and this Keel knows versions up to " + known
                    + ": it was written by a newer Keel. Restore it with that version (or newer); nothing was"
                    + " changed");
        }
        return contents;
    }

    private static boolean heldByAProcess(Path target) {
        if (!Files.isRegularFile(target)) {
            return false; // only a left-over log or shared-memory file: no database to hold
        }
        try {
            return new SqliteJournalFile(target).inUse();
        } catch (SqliteJournalFile.Unusable e) {
            return false; // not a SQLite database: no SQLite connection holds it
        }
    }

    /** The journal's file and the two SQLite keeps beside it in write-ahead-log mode. */
    private static List<Path> journalFiles(Path target) {
        return List.of(target, Path.of(target + "-wal"), Path.of(target + "-shm"));
    }

    private Path moveAside(Path target) throws IOException {
        Path aside = target.resolveSibling(target.getFileName() + ".replaced-" + STAMP.format(clock.instant()));
        for (Path file : journalFiles(target)) {
            if (Files.exists(file)) {
                Files.move(file, besideAside(aside, target, file), StandardCopyOption.ATOMIC_MOVE);
            }
        }
        return aside;
    }

    /** Moves the journal that was there back; false when it could not (it stays where the message says). */
    private static boolean moveBack(Path aside, Path target) {
        try {
            for (Path file : journalFiles(target)) {
                Path from = besideAside(aside, target, file);
                if (Files.exists(from)) {
                    Files.move(from, file, StandardCopyOption.ATOMIC_MOVE);
                }
            }
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Where one of the journal's files goes when it is moved aside: its suffix ({@code -wal}) after the new name. */
    private static Path besideAside(Path aside, Path target, Path file) {
        return Path.of(aside + file.toString().substring(target.toString().length()));
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException e) {
            // some file systems cannot sync a directory; the file itself is on disk
        }
    }
}
