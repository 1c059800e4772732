package dev.keel.middleware;

import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.Middleware;
import dev.keel.ValidationFailedException;
import java.util.Objects;
import java.util.function.Predicate;

/** Dead-letters delivered events that fail a check, without retrying them. */
public final class Validation implements Middleware {
    private final Predicate<? super Event<?>> check;
    private final String description;

    public Validation(Predicate<? super Event<?>> check, String description) {
        this.check = Objects.requireNonNull(check, "check");
        if (description == null || description.isBlank()) {
            throw new IllegalArgumentException("describe what the validation checks, for the dead letter's reason");
        }
        this.description = description;
    }

    @Override
    public void around(Delivery<?> delivery, Chain chain) throws Exception {
        if (!check.test(delivery.event())) {
            throw new ValidationFailedException("event " + delivery.event().id() + " of type '"
                    + delivery.event().type() + "' failed validation: " + description);
        }
        chain.proceed(delivery);
    }
}
