package dev.keel.cli;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.keel.server.AccessToken;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The YAML file of {@code keel serve --config FILE}. Every key is optional; environment variables override
 * it and flags override both.
 *
 * <pre>{@code
 * port: 8080
 * host: 0.0.0.0
 * dataDir: /var/lib/keel
 * drainTimeout: 30s
 * auth:
 *   tokens:
 *     - token: 3f9c...           # at least 16 characters
 *       tenant: acme
 *       scopes: [produce, consume, admin]
 * }</pre>
 *
 * @param port the port
 * @param host the address to bind
 * @param dataDir the SQLite journal's directory
 * @param drainTimeout how long shutdown waits for deliveries
 * @param auth the tokens
 */
record ServeConfig(Integer port, String host, String dataDir, String drainTimeout, Auth auth) {
    /** The {@code auth} section. */
    record Auth(List<Token> tokens) {}

    /** One token as written in the file. */
    record Token(
            @JsonProperty("token") String token,
            @JsonProperty("tenant") String tenant,
            @JsonProperty("scopes") List<String> scopes) {}

    static final ServeConfig EMPTY = new ServeConfig(null, null, null, null, null);

    /** Reads the file; a clear {@link IllegalArgumentException} names what is wrong and where. */
    static ServeConfig load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("the config file '" + file + "' does not exist");
        }
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        try {
            if (Files.readString(file).isBlank()) {
                return EMPTY;
            }
            ServeConfig config = yaml.readValue(file.toFile(), ServeConfig.class);
            return config == null ? EMPTY : config;
        } catch (JsonMappingException e) {
            String where = e.getPath().isEmpty()
                    ? ""
                    : " at '"
                            + e.getPath().stream()
                                    .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                                    .collect(Collectors.joining("."))
                            + "'";
            throw new IllegalArgumentException(
                    "the config file '" + file + "' is not valid" + where + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the config file '" + file + "': " + e.getMessage(), e);
        }
    }

    /** The tokens, checked. */
    List<AccessToken> tokens() {
        if (auth == null || auth.tokens() == null) {
            return List.of();
        }
        return auth.tokens().stream()
                .map(t -> {
                    if (t.token() == null || t.tenant() == null || t.scopes() == null) {
                        throw new IllegalArgumentException("every entry of auth.tokens needs token, tenant and scopes");
                    }
                    Set<AccessToken.Scope> scopes =
                            t.scopes().stream().map(AccessToken.Scope::parse).collect(Collectors.toSet());
                    return new AccessToken(t.token(), t.tenant(), scopes);
                })
                .toList();
    }
}
