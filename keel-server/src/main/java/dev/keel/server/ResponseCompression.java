package dev.keel.server;

import org.eclipse.jetty.compression.gzip.GzipCompression;
import org.eclipse.jetty.compression.server.CompressionConfig;
import org.eclipse.jetty.compression.server.CompressionHandler;

/**
 * Gzip for responses, by Jetty's {@link CompressionHandler}: answers of a compressible type (JSON, problems, HTML,
 * JavaScript, CSS, plain text) of at least {@link #MIN_BYTES} are compressed when the client sends
 * {@code Accept-Encoding: gzip}. Event streams never are: a compressor holds bytes back until it has enough, and a
 * stream must reach its client event by event. Request bodies are not decompressed here but by {@link Bodies},
 * which applies the size limit to what they decompress to.
 */
final class ResponseCompression {
    /** The smallest answer worth compressing: 1 KiB. */
    static final int MIN_BYTES = 1024;

    /** The media types compressed. */
    static final String[] TYPES = {
        "application/json",
        Problem.MEDIA_TYPE,
        "text/html",
        "text/javascript",
        "application/javascript",
        "text/css",
        "text/plain"
    };

    private ResponseCompression() {}

    /** A handler to insert in front of the servlet that serves the routes. */
    static CompressionHandler handler() {
        GzipCompression gzip = new GzipCompression();
        gzip.setMinCompressSize(MIN_BYTES);
        CompressionHandler handler = new CompressionHandler();
        handler.putCompression(gzip);
        CompressionConfig.Builder config = CompressionConfig.builder()
                .compressIncludeEncoding("gzip")
                .compressIncludeMethod("GET")
                .compressIncludeMethod("POST")
                .compressIncludeMethod("PUT")
                .compressIncludeMethod("DELETE")
                .compressExcludeMimeType("text/event-stream")
                .compressExcludePath("/v1/stream")
                .compressExcludePath("/v1/stream/*")
                // Bodies decompresses request bodies itself, within the size limit.
                .decompressExcludePath("/*");
        for (String type : TYPES) {
            config.compressIncludeMimeType(type);
        }
        handler.putConfiguration("/", config.build());
        return handler;
    }
}
