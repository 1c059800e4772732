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
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Appends events to the log topic with the idempotent producer ({@code acks=all}): lane {@code n} is
 * partition {@code n}, chosen by Keel ({@link dev.keel.Lanes}), never by Kafka's partitioner. The record key is
 * the event's ordering key, the value its CloudEvents JSON envelope (structured mode), and a
 * {@code traceparent} header carries its trace. An append completes when the broker acknowledged every record
 * of the batch.
 *
 * <p>A batch is all or nothing per lane, not across lanes: Kafka writes partitions independently, and a
 * transaction would put markers between offsets, which Keel's sequences cannot have. A batch with dedup keys
 * claims them first ({@link DedupClaims}).
 *
 * <p>Threads: any thread appends; the producer's callbacks complete the futures on {@code completer}, never
 * on the producer's own thread.
 */
final class Appender {
    private final String topic;
    private final Producer<byte[], byte[]> producer;
    private final EnvelopeCodec codec;
    private final LogReader reader;
    private final DedupClaims dedup;
    private final Executor completer;
    private final Duration timeout;
    private final long maxRecordBytes;
    private final long dedupRetentionMillis;

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
        this.completer = completer;
        this.timeout = timeout;
        this.maxRecordBytes = maxRecordBytes;
        this.dedupRetentionMillis = dedupRetention.toMillis();
    }

    CompletableFuture<List<AppendResult>> append(List<Append> batch) {
        for (Append a : batch) {
            if (a.dedupKey() != null) {
                CompletableFuture<List<AppendResult>> out = new CompletableFuture<>();
                Thread.ofVirtual().name("keel-kafka-dedup").start(() -> {
                    try {
                        out.complete(appendWithClaims(batch));
                    } catch (Throwable t) {
                        out.completeExceptionally(t);
                    }
                });
                return out;
            }
        }
        return send(batch);
    }

    /** Sends a batch without dedup keys; completes once every record is acknowledged. */
    private CompletableFuture<List<AppendResult>> send(List<Append> batch) {
        CompletableFuture<List<AppendResult>> out = new CompletableFuture<>();
        AppendResult[] results = new AppendResult[batch.size()];
        AtomicInteger left = new AtomicInteger(batch.size());
        if (batch.isEmpty()) {
            out.complete(List.of());
            return out;
        }
        for (int i = 0; i < batch.size(); i++) {
            Append a = batch.get(i);
            int index = i;
            ProducerRecord<byte[], byte[]> record;
            try {
                record = record(a);
            } catch (RuntimeException e) {
                out.completeExceptionally(e);
                return out;
            }
            producer.send(record, (m, error) -> {
                if (error != null) {
                    RuntimeException failure = failure(a, record, error);
                    completer.execute(() -> out.completeExceptionally(failure));
                    return;
                }
                long sequence = m.offset() + 1;
                results[index] = new AppendResult(a.lane(), sequence, a.event().id(), false);
                reader.appended(a.lane(), sequence, a.event());
                if (left.decrementAndGet() == 0) {
                    completer.execute(() -> out.complete(Arrays.asList(results)));
                }
            });
        }
        return out;
    }

    private ProducerRecord<byte[], byte[]> record(Append a) {
        RecordHeaders headers = new RecordHeaders();
        headers.add("content-type", "application/cloudevents+json".getBytes(StandardCharsets.UTF_8));
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
            return new PayloadTooLargeException(a.event().type(), record.value().length, maxRecordBytes);
        }
        return new JournalException(
                "the broker did not acknowledge event " + a.event().id() + " on lane " + a.lane() + ": " + error,
                error);
    }

    /**
     * Claims the batch's dedup keys, appends the events whose claims won, records their positions, and reports
     * every other one as the duplicate of the event that holds its key. Blocking; runs on a virtual thread.
     */
    private List<AppendResult> appendWithClaims(List<Append> batch) throws InterruptedException {
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
            open = appendRound(batch, open, results);
        }
        return Arrays.asList(results);
    }

    /** One round over the open indexes; returns those whose key's winner went away, to claim again. */
    private List<Integer> appendRound(List<Append> batch, List<Integer> open, AppendResult[] results)
            throws InterruptedException {
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
        for (int i : open) {
            String claimId = claimIds.get(i);
            if (claimId == null) {
                toAppend.add(i);
                continue;
            }
            DedupClaims.Claim verdict = dedup.verdict(claimId);
            if (verdict == null) {
                throw new JournalException("the claim of a dedup key was not read back from " + "the dedup topic");
            }
            if (verdict.id.equals(claimId)) {
                toAppend.add(i);
                won.put(i, verdict);
                ownWinners.put(verdict.id, i);
            } else {
                lostTo.put(i, verdict);
            }
        }

        List<Append> appends = new ArrayList<>();
        for (int i : toAppend) {
            appends.add(batch.get(i));
        }
        List<AppendResult> stored;
        try {
            stored = send(appends).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            for (DedupClaims.Claim c : won.values()) {
                producer.send(dedup.voided(c)); // let a retry claim the keys again at once
            }
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new JournalException("appending events failed: " + cause, cause);
        }
        List<Future<RecordMetadata>> positions = new ArrayList<>();
        for (int k = 0; k < toAppend.size(); k++) {
            int i = toAppend.get(k);
            results[i] = stored.get(k);
            DedupClaims.Claim c = won.get(i);
            if (c != null) {
                positions.add(producer.send(dedup.position(c, results[i].lane(), results[i].sequence())));
            }
        }
        for (Future<RecordMetadata> f : positions) {
            await(f, "record the position of a dedup key");
        }

        List<Integer> again = new ArrayList<>();
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

    /** Waits until another append's winning claim records its position; false when it went away instead. */
    private boolean awaitPlaced(DedupClaims.Claim winner) throws InterruptedException {
        while (true) {
            switch (dedup.state(winner, System.currentTimeMillis())) {
                case PLACED -> {
                    return true;
                }
                case GONE -> {
                    return false;
                }
                case WAITING -> {
                    Thread.sleep(5);
                    dedup.catchUp();
                }
            }
        }
    }

    private RecordMetadata await(Future<RecordMetadata> f, String what) throws InterruptedException {
        try {
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            throw new JournalException("could not " + what + " in " + topic + ".dedup: " + cause, cause);
        }
    }
}
