package dev.keel;

/**
 * An event emitted while handling another would exceed the causation depth limit: a handler is most likely
 * emitting in a loop. The event was not stored.
 */
public final class LoopDetectedException extends KeelException {
    private static final long serialVersionUID = 1L;

    public LoopDetectedException(String type, int depth, int maxDepth, String causationId) {
        super("event of type '" + type + "' would have causation depth " + depth + ", over the limit of "
                + maxDepth + " (caused by event " + causationId + "); a handler is probably emitting in a loop."
                + " Raise Keel.builder().maxDepth(...) only if such long chains are intended");
    }
}
