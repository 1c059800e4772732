package dev.keel.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import dev.keel.Event;
import dev.keel.spi.EnvelopeCodec;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Writing and reading one stored event ({@link EnvelopeCodec}): the CPU every durable engine spends per event on
 * top of its store, and on Kafka the larger part of an emit. {@code data} is an integer (as the Kafka probe emits)
 * or a small map (a typical business event); the event carries an ordering key and Keel's generated id and time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class EnvelopeCodecBenchmark {
    @Param({"integer", "map"})
    String data;

    private EnvelopeCodec codec;
    private Event<Object> event;
    private byte[] stored;

    @Setup
    public void setUp() {
        codec = new EnvelopeCodec(new ObjectMapper().registerModule(new JavaTimeModule()));
        Object payload = data.equals("integer")
                ? (Object) 123_456
                : Map.of("orderId", "o-12345", "amount", 4200, "currency", "EUR", "lines", 3);
        event = Event.builder("bench.event", payload)
                .id("0193a5d2-7c1e-7b9a-8f00-3c2d1e0f4a5b")
                .source("/keel/bench")
                .time(Instant.parse("2026-12-03T17:20:00.123Z"))
                .key("key-417")
                .build();
        stored = codec.write(event);
    }

    @Benchmark
    public byte[] write() {
        return codec.write(event);
    }

    @Benchmark
    public Event<Object> read() {
        return codec.read(stored);
    }
}
