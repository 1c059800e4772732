package dev.keel.eventsourcing.spi;

import dev.keel.Receipt;
import dev.keel.spi.Append;
import dev.keel.spi.EventLog.AppendResult;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Publishes an append's log events through the store: the runtime prepares them (as {@link
 * dev.keel.Keel#emitThrough} does) and the store appends them to the journal in its own transaction.
 */
@FunctionalInterface
public interface LogPublisher {
    /** Prepares the log events and hands their appends to {@code store}, which writes them with its records. */
    CompletableFuture<List<Receipt>> publish(Function<List<Append>, CompletableFuture<List<AppendResult>>> store);
}
