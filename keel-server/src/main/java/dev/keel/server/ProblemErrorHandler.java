package dev.keel.server;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Answers the errors Jetty raises before a request reaches the API (a malformed URI, headers or a request
 * line too large, a bad HTTP message) as RFC 9457 problems, like every other error of the server.
 */
final class ProblemErrorHandler extends ErrorHandler {
    @Override
    protected void generateResponse(
            Request request, Response response, int code, String message, Throwable cause, Callback callback) {
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, Problem.MEDIA_TYPE);
        response.write(
                true, ByteBuffer.wrap(body(code, message, request.getHttpURI().getPath())), callback);
    }

    private static byte[] body(int status, String message, String path) {
        String title = HttpStatus.getMessage(status);
        String detail =
                switch (status) {
                    case 414 -> "the request URI is too long; send criteria in a body instead";
                    case 431 -> "the request headers are too large; send fewer or shorter headers";
                    default -> message == null || message.isBlank() ? title : message;
                };
        return ("{\"type\":\"/problems/http-" + status + "\",\"title\":" + quote(title) + ",\"status\":" + status
                        + ",\"detail\":" + quote(detail) + (path == null ? "" : ",\"instance\":" + quote(path)) + "}")
                .getBytes(StandardCharsets.UTF_8);
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
