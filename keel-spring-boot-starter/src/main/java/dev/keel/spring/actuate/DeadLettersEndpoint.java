package dev.keel.spring.actuate;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterNotFoundException;
import dev.keel.DeadLetterQuery;
import dev.keel.Keel;
import dev.keel.ReplayLimitExceededException;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.actuate.endpoint.InvalidEndpointRequestException;
import org.springframework.boot.actuate.endpoint.annotation.DeleteOperation;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;

/**
 * The {@code deadletters} Actuator endpoint: list Keel's dead letters, show one, reprocess it, delete it. Exposed
 * and secured like every other Actuator endpoint ({@code management.endpoints.web.exposure.include=deadletters},
 * then the application's security rules for {@code /actuator/**}); it is not exposed over the web by default.
 *
 * <ul>
 *   <li>{@code GET /actuator/deadletters?subscription=billing&type=order.*&limit=100}
 *   <li>{@code GET /actuator/deadletters/{id}}
 *   <li>{@code POST /actuator/deadletters/{id}}: reprocess it (delivered again to its subscription; a poison
 *       dead letter, or one at its replay limit, is not: 409 with the reason; 404 when there is no such dead
 *       letter, see {@link DeadLettersWebExtension})
 *   <li>{@code DELETE /actuator/deadletters/{id}}
 * </ul>
 */
@Endpoint(id = "deadletters")
public final class DeadLettersEndpoint {
    private final Keel keel;

    public DeadLettersEndpoint(Keel keel) {
        this.keel = keel;
    }

    /** A dead letter as the endpoint shows it. */
    public record View(
            String id,
            String subscription,
            String eventId,
            String type,
            String key,
            String tenant,
            String reason,
            String deadLetteredAt,
            int replayCount,
            boolean poison,
            List<String> errors,
            Object data) {
        static View of(DeadLetter d) {
            return new View(
                    d.id(),
                    d.subscription(),
                    d.event().id(),
                    d.event().type(),
                    d.event().partitionKey(),
                    d.event().tenant(),
                    d.reason(),
                    d.deadLetteredAt().toString(),
                    d.replayCount(),
                    d.poison(),
                    d.errors().stream().map(Object::toString).toList(),
                    d.event().data());
        }
    }

    /**
     * What a reprocess request did.
     *
     * @param id the dead letter
     * @param sent whether it was sent back to its subscription
     * @param reason why it was not, when it was not (poison, or at its replay limit)
     */
    public record Reprocessed(String id, boolean sent, String reason) {}

    /** The page of the answer: the dead letters, and the id to pass as {@code after} for the next page. */
    public record Page(List<View> deadLetters, String next) {}

    @ReadOperation
    public Page list(
            @Nullable String subscription,
            @Nullable String type,
            @Nullable String key,
            @Nullable String after,
            @Nullable Integer limit) {
        DeadLetterQuery q = DeadLetterQuery.all();
        if (subscription != null) {
            q = q.withSubscription(subscription);
        }
        if (type != null) {
            q = q.withType(type);
        }
        if (key != null) {
            q = q.withKey(key);
        }
        if (after != null) {
            q = q.withAfterId(after);
        }
        int max = limit == null ? 100 : limit;
        if (max < 1 || max > DeadLetterQuery.MAX_LIMIT) {
            throw new InvalidEndpointRequestException(
                    "limit must be between 1 and " + DeadLetterQuery.MAX_LIMIT + " but was " + max
                            + "; page with 'after' for more",
                    "limit out of range");
        }
        q = q.withLimit(max);
        List<View> views = keel.deadLetters().list(q).stream().map(View::of).toList();
        return new Page(views, views.size() == max ? views.get(views.size() - 1).id() : null);
    }

    @ReadOperation
    public View get(@Selector String id) {
        return keel.deadLetters().get(id).map(View::of).orElse(null);
    }

    /** Reprocesses the dead letter: it is delivered again to its subscription, and leaves the dead letters. */
    @WriteOperation
    public Reprocessed reprocess(@Selector String id) {
        try {
            keel.deadLetters().reprocess(id);
            return new Reprocessed(id, true, null);
        } catch (DeadLetterNotFoundException e) {
            return null;
        } catch (ReplayLimitExceededException e) {
            return new Reprocessed(id, false, e.getMessage());
        }
    }

    @DeleteOperation
    public boolean delete(@Selector String id) {
        return keel.deadLetters().delete(id);
    }
}
