package dev.keel;

import java.time.Instant;

/**
 * A causation chain ran out of its time budget ({@link Keel.Builder#chainBudget}): an event caused past the chain's
 * deadline is refused at emit, and a delivery past it does not start. Retrying cannot help, so a handler that meets
 * it has its event dead-lettered at once; reprocessing that dead letter runs it regardless of the budget.
 */
public class ChainBudgetExceededException extends PermanentFailureException {
    private static final long serialVersionUID = 1L;

    private final transient Instant deadline;

    public ChainBudgetExceededException(String what, Instant deadline) {
        super(what + ": its causation chain's time budget ran out at " + deadline
                + " (Keel.Builder.chainBudget); reprocess it from the dead letters to run it anyway");
        this.deadline = deadline;
    }

    /** When the chain's budget ran out. */
    public Instant deadline() {
        return deadline;
    }
}
