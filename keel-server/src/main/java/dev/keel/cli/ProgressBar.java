package dev.keel.cli;

import java.io.PrintWriter;

/**
 * A progress bar for long client operations, drawn on one line of the error stream when it is a terminal;
 * elsewhere (a pipe, a log) only the final count is printed, so logs stay readable.
 */
final class ProgressBar {
    private static final int WIDTH = 30;

    private final PrintWriter err;
    private final String label;
    private final long total;
    private final boolean terminal;
    private long done;

    ProgressBar(PrintWriter err, String label, long total, boolean terminal) {
        this.err = err;
        this.label = label;
        this.total = Math.max(total, 0);
        this.terminal = terminal;
    }

    /** A bar drawn only when the process has a console. */
    static ProgressBar of(PrintWriter err, String label, long total) {
        return new ProgressBar(err, label, total, System.console() != null);
    }

    void advance(long n) {
        done += n;
        if (terminal) {
            int filled = total == 0 ? WIDTH : (int) Math.min(WIDTH, done * WIDTH / total);
            err.print(
                    "\r" + label + " [" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] " + done + "/" + total);
            err.flush();
        }
    }

    void finish() {
        if (terminal) {
            err.println();
        }
        err.println(label + ": " + done + " of " + total);
        err.flush();
    }
}
