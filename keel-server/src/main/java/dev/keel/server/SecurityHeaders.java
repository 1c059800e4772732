package dev.keel.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Headers that keep browsers from misusing the server's answers, set on every response before the routes run (a
 * route may set its own {@code Content-Security-Policy}, as the dashboard does):
 *
 * <ul>
 *   <li>{@code X-Content-Type-Options: nosniff}: a JSON answer is never run as a script or shown as a page;
 *   <li>{@code Referrer-Policy: no-referrer}: no address of this server leaks to another site;
 *   <li>{@code X-Frame-Options: DENY} and CSP {@code frame-ancestors 'none'}: no page frames the server's (against
 *       clickjacking);
 *   <li>{@code Content-Security-Policy: default-src 'none'} on everything but the dashboard: an answer loads nothing;
 *   <li>{@code Cache-Control: no-store} on the API ({@code /v1/...}): answers carry secrets (a subscription's signing
 *       secret when it is created or rotated) and tenants' events, which no shared cache may keep.
 * </ul>
 */
final class SecurityHeaders extends Handler.Wrapper {
    /** The policy of every answer but the dashboard: it loads nothing and is framed by nothing. */
    static final String API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    private static final Pattern INLINE = Pattern.compile("<(script|style)>(.*?)</\\1>", Pattern.DOTALL);

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
        HttpFields.Mutable headers = response.getHeaders();
        headers.put("X-Content-Type-Options", "nosniff");
        headers.put("Referrer-Policy", "no-referrer");
        headers.put("X-Frame-Options", "DENY");
        headers.put("Content-Security-Policy", API_POLICY);
        if (Request.getPathInContext(request).startsWith("/v1/")) {
            headers.put("Cache-Control", "no-store");
        }
        return super.handle(request, response, callback);
    }

    /**
     * The policy of a page whose scripts and styles are all inline in it (the dashboard): those exact blocks may run,
     * by their SHA-256, and nothing else; the page may call this server's API and nothing else.
     */
    static String pagePolicy(String html) {
        List<String> scripts = new ArrayList<>();
        List<String> styles = new ArrayList<>();
        Matcher m = INLINE.matcher(html);
        while (m.find()) {
            (m.group(1).equals("script") ? scripts : styles).add("'sha256-" + sha256(m.group(2)) + "'");
        }
        return "default-src 'none'; script-src " + sources(scripts) + "; style-src " + sources(styles)
                + "; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    }

    private static String sources(List<String> hashes) {
        return hashes.isEmpty() ? "'none'" : String.join(" ", hashes);
    }

    private static String sha256(String text) {
        try {
            return Base64.getEncoder()
                    .encodeToString(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
