package dev.keel.kafka;

import dev.keel.PayloadTooLargeException;
import dev.keel.spi.Append;
import dev.keel.spi.EnvelopeCodec;
import dev.keel.spi.EventLog.AppendResult;
import dev.keel.spi.JournalException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Appends events to the log topic with the idempotent producer ({@code acks=all}): lane {@code n} is
 * partition {@code n}, chosen by Keel ({@link dev.keel.Lanes}), never by Kafka's partitioner. The record key is
 * the event's ordering key, the value its CloudEvents JSON envelope (structured mode, the log's only format),
 * and a {@code traceparent} header carries its trace. An append completes when the broker acknowledged every record
 * of the batch.
 *
 * <p>A batch is encoded and size-checked whole before anything is sent, so bad input stores nothing. Once sent,
 * it is all or nothing per lane, not across lanes: Kafka writes partitions independently, and a transaction
 * would put markers between offsets, which Keel's sequences cannot have. A batch with dedup keys claims them
 * first ({@link DedupClaims}).
 *
 * <p>Threads: any thread appends; the producer's callbacks complete the futures on {@code completer}, never
 * on the producer's own thread. Batches with dedup keys queue up and are claimed and sent in their order by one
 * virtual thread at a time ({@code keel-kafka-dedup}).
 *
 * <p>Longer than the other parts because the dedup claim rounds (claims, verdicts, positions, voids) live here,
 * beside the plain path whose encoding and sending they share.
 */
final class Appender {
    private static final Logger log = LoggerFactory.getLogger(Appender.class);
    /** Headers and record framing, on top of key and value, when checking a record against the size limit. */
    private static final int RECORD_OVERHEAD = 128;

    private final String topic;
    private final Producer<byte[], byte[]> producer;
    private final EnvelopeCodec codec;
    private final LogReader reader;
    private final DedupClaims dedup;
    private final Completions completer;
    private final Duration timeout;
    private final long maxRecordBytes;
    private final long dedupRetentionMillis;
    /** Batches with dedup keys, in the order they were appended; one virtual thread drains them at a time. */
    private final java.util.concurrent.ConcurrentLinkedQueue<ClaimJob> claims =
            new java.util.concurrent.ConcurrentLinkedQueue<>();

    private final java.util.concurrent.atomic.AtomicBoolean claiming = new java.util.concurrent.atomic.AtomicBoolean();

    Appender(
            String topic,
            Producer<byte[], byte[]> producer,
            EnvelopeCodec codec,
            LogReader reader,
            DedupClaims dedup,
            Executor completer,
            Duration timeout,
            long maxRecordBytes,
            Duration dedupRetention) {
        this.topic = topic;
        this.producer = producer;
        this.codec = codec;
        this.reader = reader;
        this.dedup = dedup;
        this.completer = new Completions(completer);
        this.timeout = timeout;
        this.maxRecordBytes = maxRecordBytes;
        this.dedupRetentionMillis = dedupRetention.toMillis();
    }

    /** What became of one record: its result, or why the broker did not take it. */
    private record Outcome(AppendResult result, Exception error) {}

    CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        List<ProducerRecord<byte[], byte[]>> records;
        try {
            records = encode(batch);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        for (Append a : batch) {
            if (a.dedupKey() != null) {
                CompletableFuture<List<AppendResult>> out = new CompletableFuture<>();
                claims.add(new ClaimJob(batch, records, out));
                if (claiming.compareAndSet(false, true)) {
                    Thread.ofVirtual().name("keel-kafka-dedup").start(this::drainClaims);
                }
                return out;
            }
        }
        CompletableFuture<List<AppendResult>> out = new CompletableFuture<>();
        send(batch, records).thenAccept(outcomes -> {
            List<AppendResult> results = new ArrayList<>(outcomes.length);
            for (int i = 0; i < outcomes.length; i++) {
                if (outcomes[i].error() != null) {
                    out.completeExceptionally(failure(batch.get(i), records.get(i), outcomes[i].error()));
                    return;
                }
                results.add(outcomes[i].result());
            }
            out.complete(results);
        });
        return out;
    }

    /** Appends one event: the common case of an emit, without the batch's lists and counters. */
    CompletableFuture<AppendResult> appendOne(Append a) {
        if (a.dedupKey() != null) {
            return append(List.of(a)).thenApply(List::getFirst);
        }
        ProducerRecord<byte[], byte[]> record;
        try {
            record = encode(List.of(a)).getFirst();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<AppendResult> out = new CompletableFuture<>();
        producer.send(record, (m, error) -> {
            if (error != null) {
                RuntimeException failure = failure(a, record, error);
                completer.run(() -> out.completeExceptionally(failure));
                return;
            }
            long sequence = m.offset() + 1;
            AppendResult result = new AppendResult(a.lane(), sequence, a.event().id(), false);
            reader.appended(a.lane(), sequence, a.event(), record.value().length);
            completer.run(() -> out.complete(result));
        });
        return out;
    }

    /** Encodes every record of the batch and checks it against the size limit, before any is sent. */
    private List<ProducerRecord<byte[], byte[]>> encode(List<Append> batch) {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(batch.size());
        for (Append a : batch) {
            ProducerRecord<byte[], byte[]> r = record(a);
            if (size(r) > maxRecordBytes) {
                throw new PayloadTooLargeException(a.event().type(), size(r), maxRecordBytes);
            }
            records.add(r);
        }
        return records;
    }

    private static long size(ProducerRecord<byte[], byte[]> r) {
        long n = RECORD_OVERHEAD + r.value().length + (r.key() == null ? 0 : r.key().length);
        for (Header h : r.headers()) {
            n += h.key().length() + h.value().length;
        }
        return n;
    }

    /**
     * Sends encoded records; completes (never exceptionally) once the broker answered for each, with what became
     * of each.
     */
    private CompletableFuture<Outcome[]> send(List<Append> batch, List<ProducerRecord<byte[], byte[]>> records) {
        CompletableFuture<Outcome[]> out = new CompletableFuture<>();
        Outcome[] outcomes = new Outcome[batch.size()];
        if (batch.isEmpty()) {
            out.complete(outcomes);
            return out;
        }
        AtomicInteger left = new AtomicInteger(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Append a = batch.get(i);
            int index = i;
            producer.send(records.get(i), (m, error) -> {
                if (error != null) {
                    outcomes[index] = new Outcome(null, error);
                } else {
                    long sequence = m.offset() + 1;
                    outcomes[index] = new Outcome(
                            new AppendResult(a.lane(), sequence, a.event().id(), false), null);
                    reader.appended(
                            a.lane(), sequence, a.event(), records.get(index).value().length);
                }
                if (left.decrementAndGet() == 0) {
                    completer.run(() -> out.complete(outcomes));
                }
            });
        }
        return out;
    }

    private ProducerRecord<byte[], byte[]> record(Append a) {
        // No content-type header: every record of the log is a structured-mode CloudEvent, and a header per
        // record costs the broker bytes on every event.
        RecordHeaders headers = new RecordHeaders();
        if (a.event().traceparent() != null) {
            headers.add("traceparent", a.event().traceparent().getBytes(StandardCharsets.UTF_8));
        }
        String key = a.event().partitionKey();
        return new ProducerRecord<>(
                topic,
                a.lane(),
                null,
                key == null ? null : key.getBytes(StandardCharsets.UTF_8),
                codec.write(a.event()),
                headers);
    }

    private RuntimeException failure(Append a, ProducerRecord<byte[], byte[]> record, Exception error) {
        if (error instanceof RecordTooLargeException) {
            return new PayloadTooLargeException(a.event().type(), size(record), maxRecordBytes);
        }
        return new JournalException(
                "the broker did not acknowledge event " + a.event().id() + " on lane " + a.lane() + ": " + error,
                error);
    }

    /** A batch with dedup keys, waiting for its turn. */
    private record ClaimJob(
            List<Append> batch,
            List<ProducerRecord<byte[], byte[]>> records,
            CompletableFuture<List<AppendResult>> out) {}

    /**
     * Runs the batches with dedup keys in the order they were appended, every batch waiting at the time as one:
     * one claim round for all of them, so order holds (a later emit of a key never overtakes an earlier one) and a
     * busy intake pays one round trip for many batches.
     */
    private void drainClaims() {
        while (true) {
            List<ClaimJob> jobs = new ArrayList<>();
            for (ClaimJob j; (j = claims.poll()) != null; ) {
                jobs.add(j);
            }
            if (jobs.isEmpty()) {
                claiming.set(false);
                if (claims.isEmpty() || !claiming.compareAndSet(false, true)) {
                    return;
                }
                continue;
            }
            List<Append> all = new ArrayList<>();
            List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
            for (ClaimJob j : jobs) {
                all.addAll(j.batch());
                records.addAll(j.records());
            }
            try {
                List<AppendResult> results = appendWithClaims(all, records);
                int at = 0;
                for (ClaimJob j : jobs) {
                    List<AppendResult> mine = results.subList(at, at + j.batch().size());
                    at += j.batch().size();
                    j.out().complete(List.copyOf(mine));
                }
            } catch (Throwable t) {
                // What was stored has its position recorded: a retry of any of these batches finds it a duplicate.
                for (ClaimJob j : jobs) {
                    j.out().completeExceptionally(t);
                }
                if (t instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /**
     * Claims the batch's dedup keys, appends the events whose claims won, records their positions, and reports
     * every other one as the duplicate of the event that holds its key. Blocking; runs on a virtual thread.
     */
    private List<AppendResult> appendWithClaims(List<Append> batch, List<ProducerRecord<byte[], byte[]>> records)
            throws InterruptedException {
        AppendResult[] results = new AppendResult[batch.size()];
        List<Integer> open = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            open.add(i);
        }
        for (int round = 0; !open.isEmpty(); round++) {
            if (round == 3) {
                throw new JournalException("the dedup keys of " + open.size()
                        + " events stayed claimed by appends that never completed; try again later");
            }
            open = appendRound(batch, records, open, results);
        }
        return Arrays.asList(results);
    }

    /** One round over the open indexes; returns those whose key's winner went away, to claim again. */
    private List<Integer> appendRound(
            List<Append> batch,
            List<ProducerRecord<byte[], byte[]>> records,
            List<Integer> open,
            AppendResult[] results)
            throws InterruptedException {
        long claimedAt = System.nanoTime();
        long now = System.currentTimeMillis();
        Map<Integer, String> claimIds = new HashMap<>();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (int i : open) {
            Append a = batch.get(i);
            if (a.dedupKey() == null) {
                continue;
            }
            String claimId = UUID.randomUUID().toString();
            claimIds.put(i, claimId);
            // Cut to the topic's retention, so that no reader ever meets a live claim another no longer has.
            long until = Math.min(a.dedupUntil().toEpochMilli(), now + dedupRetentionMillis - 60_000);
            dedup.expect(claimId);
            sent.add(producer.send(dedup.claim(
                    claimId, DedupClaims.canonical(a.dedupKey()), a.event().id(), until)));
        }
        Map<Integer, Long> highest = new HashMap<>();
        for (Future<RecordMetadata> f : sent) {
            RecordMetadata m = await(f, "claim a dedup key");
            highest.merge(m.partition(), m.offset(), Math::max);
        }
        highest.forEach(dedup::readTo);

        List<Integer> toAppend = new ArrayList<>();
        Map<Integer, DedupClaims.Claim> won = new HashMap<>();
        Map<Integer, DedupClaims.Claim> lostTo = new HashMap<>();
        Map<String, Integer> ownWinners = new HashMap<>();
        List<Integer> again = new ArrayList<>();
        // A claim counts for CLAIM_TIMEOUT without a position. Sending the event and then its position may take
        // two producer waits each (DedupClaims.LATE_AFTER leaves room for them): past it, append nothing on its
        // strength.
        boolean late = System.nanoTime() - claimedAt > DedupClaims.LATE_AFTER.toNanos();
        for (int i : open) {
            String claimId = claimIds.get(i);
            if (claimId == null) {
                toAppend.add(i);
                continue;
            }
            DedupClaims.Claim verdict = dedup.verdict(claimId);
            if (verdict == null) {
                throw new JournalException("the claim of a dedup key was not read back from " + topic + ".dedup");
            }
            if (verdict.id.equals(claimId)) {
                if (late) {
                    producer.send(dedup.voided(verdict));
                    again.add(i);
                    continue;
                }
                toAppend.add(i);
                won.put(i, verdict);
                ownWinners.put(verdict.id, i);
            } else {
                lostTo.put(i, verdict);
            }
        }

        List<Append> appends = new ArrayList<>();
        List<ProducerRecord<byte[], byte[]>> toSend = new ArrayList<>();
        for (int i : toAppend) {
            appends.add(batch.get(i));
            toSend.add(records.get(i));
        }
        Outcome[] outcomes;
        try {
            // The producer answers within its delivery timeout, which is shorter than this wait.
            outcomes = send(appends, toSend).get(timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new JournalException("the broker did not answer for " + appends.size() + " events in time", e);
        }
        List<Future<RecordMetadata>> positions = new ArrayList<>();
        RuntimeException failed = null;
        for (int k = 0; k < toAppend.size(); k++) {
            int i = toAppend.get(k);
            DedupClaims.Claim c = won.get(i);
            Outcome o = outcomes[k];
            if (o.error() != null) {
                if (c != null && o.error() instanceof RecordTooLargeException) {
                    producer.send(dedup.voided(c)); // surely not stored: the key is free again at once
                }
                // Otherwise the record may be stored (an acknowledgement lost): the claim stays and expires.
                if (failed == null) {
                    failed = failure(batch.get(i), records.get(i), o.error());
                }
                continue;
            }
            results[i] = o.result();
            if (c != null) {
                positions.add(producer.send(dedup.position(c, results[i].lane(), results[i].sequence())));
            }
        }
        for (Future<RecordMetadata> f : positions) {
            try {
                await(f, "record the position of a dedup key");
            } catch (JournalException e) {
                // The event is stored: its append succeeded. Without its position the claim expires, and the key
                // may be stored once more after that.
                log.warn("the position of a dedup key was not recorded: {}", e.getMessage());
            }
        }
        if (failed != null) {
            throw failed;
        }

        for (Map.Entry<Integer, DedupClaims.Claim> e : lostTo.entrySet()) {
            DedupClaims.Claim winner = e.getValue();
            Integer sibling = ownWinners.get(winner.id);
            if (sibling != null) {
                AppendResult s = results[sibling];
                results[e.getKey()] = new AppendResult(s.lane(), s.sequence(), s.eventId(), true);
                continue;
            }
            if (awaitPlaced(winner)) {
                results[e.getKey()] = new AppendResult(winner.lane, winner.sequence, winner.eventId, true);
            } else {
                again.add(e.getKey());
            }
        }
        return again;
    }

    /**
     * Waits until another append's winning claim records its position; false when it was voided or did not
     * record one within the claim timeout (timed here, on this machine's clock).
     */
    private boolean awaitPlaced(DedupClaims.Claim winner) throws InterruptedException {
        long deadline = System.nanoTime() + DedupClaims.CLAIM_TIMEOUT.toNanos();
        while (true) {
            switch (dedup.state(winner)) {
                case PLACED -> {
                    return true;
                }
                case VOIDED -> {
                    return false;
                }
                case WAITING -> {
                    if (System.nanoTime() - deadline > 0) {
                        return false;
                    }
                    Thread.sleep(5);
                    dedup.catchUp();
                }
            }
        }
    }

    private RecordMetadata await(Future<RecordMetadata> f, String what) throws InterruptedException {
        try {
            return f.get(timeout.toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new JournalException("could not " + what + " in " + topic + ".dedup: " + cause, cause);
        }
    }
}
