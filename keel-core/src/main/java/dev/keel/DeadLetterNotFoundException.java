package dev.keel;

/** No dead letter has the given id (it may have been reprocessed, deleted or purged). */
public final class DeadLetterNotFoundException extends KeelException {
    private static final long serialVersionUID = 1L;

    public DeadLetterNotFoundException(String id) {
        super("no dead letter has id '" + id + "'; it may have been reprocessed, deleted or purged already");
    }
}
