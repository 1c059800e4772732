package dev.keel.server;

import dev.keel.TypePattern;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** {@code GET /v1/stream}: reads the stream's types and resume point, and hands the request to the streams. */
final class StreamRoutes {
    private final EventStreams streams;
    private final Authenticator auth;
    private final int lanes;

    StreamRoutes(EventStreams streams, Authenticator auth, int lanes) {
        this.streams = streams;
        this.auth = auth;
        this.lanes = lanes;
    }

    void register(RoutesConfig routes) {
        routes.get("/v1/stream", this::stream);
    }

    private void stream(Context ctx) throws IOException {
        AccessToken token = auth.authenticate(ctx, AccessToken.Scope.CONSUME, true);
        String tenant = token == null ? null : token.tenant();
        List<TypePattern> types = new ArrayList<>();
        for (String param : ctx.queryParams("types")) {
            for (String p : param.split(",")) {
                if (p.isBlank()) {
                    continue;
                }
                try {
                    types.add(TypePattern.of(p.trim()));
                } catch (IllegalArgumentException e) {
                    throw ProblemException.badRequest("invalid-types", e.getMessage());
                }
            }
        }
        if (types.isEmpty()) {
            types.add(TypePattern.of("**"));
        }
        String resume = ctx.header("Last-Event-ID");
        if (resume == null) {
            resume = ctx.queryParam("lastEventId");
        }
        StreamPosition from = null;
        if (resume != null && !resume.isBlank()) {
            try {
                from = StreamPosition.parse(resume.trim(), lanes);
            } catch (IllegalArgumentException e) {
                throw ProblemException.badRequest("invalid-last-event-id", e.getMessage());
            }
        }
        streams.serve(ctx, token, tenant, types, from);
    }
}
