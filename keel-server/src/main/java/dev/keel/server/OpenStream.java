package dev.keel.server;

import dev.keel.Event;
import dev.keel.TypePattern;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One open stream: what it wants (its tenant and types), where it stands, what is queued for it, and how it
 * ends. Its {@link #position} belongs to its request's thread until the hand-over, then to its {@link
 * StreamWriter} only; its queue is filled by its fan-out thread and drained by its writer; the flags are
 * volatile, set by its fan-out thread, the heartbeat thread or the thread closing the streams, and read by its
 * writer.
 */
final class OpenStream {
    final String tenant;
    final List<TypePattern> types;
    /** Its token's count of open streams, which it counts in until it is released. */
    final AtomicInteger held;

    final BlockingQueue<Object> queue;
    /** Completes when the stream has ended, which completes its request. */
    final CompletableFuture<Void> done = new CompletableFuture<>();
    /** Whether it was released; see {@link StreamRegistry#release}. */
    final java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();

    /** The fan-out thread that queues its events; set once before it goes live. */
    StreamFanOut owner;
    /**
     * Per lane, the sequence the stream has passed; touched by its request's thread until {@link
     * StreamWriter#start}, then by its writer only.
     */
    long[] position;

    volatile boolean live;
    volatile boolean overflowed;
    /** Set when its fan-out thread failed to serve it: it ends with {@code keel.error}. */
    volatile boolean broken;

    volatile boolean heartbeatDue;
    /** Writes the stream once its request has gone async; null before. */
    volatile StreamWriter writer;
    /** When its request thread handed it over to go async (nanoTime); 0 before. */
    volatile long handedOver;

    static final int HANDED = 0;
    static final int STARTED = 1;
    static final int ABANDONED = 2;
    /** Whether it went async after the hand-over, or was given up waiting for that. */
    final AtomicInteger state = new AtomicInteger(HANDED);
    /** When the stream last wrote (nanoTime); read by the heartbeat thread. */
    volatile long lastWrite = System.nanoTime();

    /**
     * @param buffer the most events it may have waiting
     */
    OpenStream(String tenant, List<TypePattern> types, AtomicInteger held, int buffer) {
        this.tenant = tenant;
        this.types = types;
        this.held = held;
        this.queue = new LinkedBlockingQueue<>(buffer);
    }

    /** Whether the stream carries an event: one of its tenant (when it has one) of a type it asked for. */
    boolean accepts(Event<?> e) {
        if (tenant != null && !Objects.equals(tenant, e.tenant())) {
            return false;
        }
        for (TypePattern p : types) {
            if (p.matches(e.type())) {
                return true;
            }
        }
        return false;
    }

    /** Has its writer send what is queued, unless it is busy (then it does so when done). */
    void wake() {
        StreamWriter w = writer;
        if (w != null) {
            w.iterate();
        }
    }
}
