package dev.keel.jdbc;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A line log for the child processes of the crash and multi-instance tests: plain appends, which survive
 * the process being killed and, being small, do not interleave between processes.
 */
final class AppendLog implements AutoCloseable {
    private final FileChannel channel;

    AppendLog(Path file) throws IOException {
        this.channel =
                FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
    }

    void line(String text) {
        ByteBuffer b = ByteBuffer.wrap((text + "\n").getBytes(StandardCharsets.US_ASCII));
        synchronized (channel) {
            try {
                while (b.hasRemaining()) {
                    channel.write(b);
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
