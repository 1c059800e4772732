package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** What a {@code keel serve} process started by a test prints: the port it listens on, once it says so. */
final class ServeOutput {
    private static final Pattern LISTENING = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)");

    private ServeOutput() {}

    /** Waits, up to the bound, for the process to say where it listens; fails at once if it exits first. */
    static int awaitPort(Process process, Path out, Duration bound) {
        int[] port = {0};
        await().atMost(bound).until(() -> {
            assertThat(process.isAlive()).as(() -> read(out)).isTrue();
            Matcher m = LISTENING.matcher(read(out));
            if (m.find()) {
                port[0] = Integer.parseInt(m.group(1));
                return true;
            }
            return false;
        });
        return port[0];
    }

    /** The process's output so far ("" before it wrote any). */
    static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (Exception e) {
            return "";
        }
    }
}
