package dev.keel;

import dev.keel.spi.LogRecord;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.function.IntToLongFunction;

/**
 * Reading the log directly, for tools that run beside a runtime and follow its lanes themselves (the
 * server's event streams): the lanes, their heads and records, a hold on pruning, and a watch on appends.
 * Writes go through the runtime, never here. Get it with {@link Keel#logAccess()}.
 */
public interface LogAccess {

    /** The number of lanes. */
    int lanes();

    /** The highest sequence appended to the lane, 0 when it is empty. */
    long head(int lane);

    /** Up to {@code max} records of the lane after the sequence {@code after}, in order. */
    List<LogRecord> read(int lane, long after, int max);

    /**
     * Keeps this process from pruning what a reader has not read yet: until the hold is closed, no event of a
     * lane past {@code readTo.applyAsLong(lane)} (the last sequence the reader is done with) is pruned. Other
     * instances sharing the journal do not see the hold; their retention must cover such readers.
     */
    Hold holdPruning(IntToLongFunction readTo);

    /**
     * Calls {@code appended} with the lane's number for each event this runtime stores (not for one refused as
     * a duplicate), once the journal has it, on the thread that completes the append: with a JDBC journal, the
     * writer every append waits for. So it must return at once (waking a reader of the log, say). One that
     * throws is logged; the event stays stored. Appends by other instances sharing the journal call it too
     * (on the thread that learns of them) when the engine is told of them (Redis) or {@link AppendNotices} are
     * set; such a notice is a hint that may be lost, so readers that need those appends poll as well. A call
     * already under way when the watch is closed may still arrive.
     */
    Watch watchAppends(IntConsumer appended);

    /**
     * Reads from the journal once, for readiness checks.
     *
     * @throws dev.keel.spi.JournalException when the journal cannot be read
     */
    void ping();

    /**
     * Whether other instances' appends reach {@link #watchAppends} now (the engine is told of them, or
     * {@link AppendNotices} are set and working): a reader may then poll rarely, as a safety net for a lost notice.
     * Ask again before each wait: notices stop while their Redis is away.
     */
    boolean toldOfAppendsElsewhere();

    /** A hold on pruning; closing it releases it. */
    @FunctionalInterface
    interface Hold extends AutoCloseable {
        @Override
        void close();
    }

    /** A watch on appends; closing it ends it. */
    @FunctionalInterface
    interface Watch extends AutoCloseable {
        @Override
        void close();
    }
}
