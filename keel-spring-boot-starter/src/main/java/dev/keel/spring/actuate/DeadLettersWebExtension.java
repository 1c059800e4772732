package dev.keel.spring.actuate;

import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;
import org.springframework.boot.actuate.endpoint.web.WebEndpointResponse;
import org.springframework.boot.actuate.endpoint.web.annotation.EndpointWebExtension;

/**
 * The {@code deadletters} endpoint over HTTP: a reprocess of a dead letter there is none of answers 404, and one
 * that is poison or at its replay limit 409 with the reason, rather than 204 and 200.
 */
@EndpointWebExtension(endpoint = DeadLettersEndpoint.class)
public final class DeadLettersWebExtension {
    private final DeadLettersEndpoint endpoint;

    public DeadLettersWebExtension(DeadLettersEndpoint endpoint) {
        this.endpoint = endpoint;
    }

    @WriteOperation
    public WebEndpointResponse<DeadLettersEndpoint.Reprocessed> reprocess(@Selector String id) {
        DeadLettersEndpoint.Reprocessed r = endpoint.reprocess(id);
        if (r == null) {
            return new WebEndpointResponse<>(
                    new DeadLettersEndpoint.Reprocessed(id, false, "there is no dead letter with this id"),
                    WebEndpointResponse.STATUS_NOT_FOUND);
        }
        return new WebEndpointResponse<>(r, r.sent() ? WebEndpointResponse.STATUS_OK : 409);
    }
}
