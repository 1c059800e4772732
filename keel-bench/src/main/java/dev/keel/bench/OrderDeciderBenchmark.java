package dev.keel.bench;

import dev.keel.eventsourcing.Decider;
import dev.keel.eventsourcing.Decision;
import dev.keel.eventsourcing.Effect;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One command on an order aggregate: {@code decide} on its current state, then {@code evolve} with each event
 * decided, as command handling does between loading a stream and appending to it. The order has three lines and
 * is placed; the command adds a line (an event and a scheduled re-pricing effect). The target is under 1 µs.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class OrderDeciderBenchmark {
    sealed interface Command permits AddLine, Submit {}

    record AddLine(String sku, int quantity, long priceCents) implements Command {}

    record Submit() implements Command {}

    sealed interface Happened permits LineAdded, Submitted {}

    record LineAdded(String sku, int quantity, long priceCents) implements Happened {}

    record Submitted(long totalCents) implements Happened {}

    record Line(String sku, int quantity, long priceCents) {}

    record Order(String id, List<Line> lines, long totalCents, boolean submitted) {}

    static final Decider<Command, Order, Happened> ORDER = Decider.of(
            new Order("o-1", List.of(), 0, false),
            (c, o) -> switch (c) {
                case AddLine a when o.submitted() -> Decision.reject("submitted", "order " + o.id() + " is submitted");
                case AddLine a
                when a.quantity() <= 0 -> Decision.reject("invalid-quantity", "a line needs a positive quantity");
                case AddLine a ->
                    Decision.<Happened>accept(new LineAdded(a.sku(), a.quantity(), a.priceCents()))
                            .withEffects(Effect.schedule(o.id(), new Submit(), Duration.ofMinutes(30)));
                case Submit s when o.submitted() || o.lines().isEmpty() -> Decision.nothing();
                case Submit s -> Decision.accept(new Submitted(o.totalCents()));
            },
            (o, e) -> switch (e) {
                case LineAdded l -> {
                    Line[] lines = o.lines().toArray(new Line[o.lines().size() + 1]);
                    lines[lines.length - 1] = new Line(l.sku(), l.quantity(), l.priceCents());
                    yield new Order(
                            o.id(), List.of(lines), o.totalCents() + l.quantity() * l.priceCents(), o.submitted());
                }
                case Submitted s -> new Order(o.id(), o.lines(), o.totalCents(), true);
            });

    private final Order placed = ORDER.fold(List.of(
            new LineAdded("sku-1", 1, 1_999), new LineAdded("sku-2", 2, 500), new LineAdded("sku-3", 1, 12_000)));
    private final Command command = new AddLine("sku-4", 3, 250);

    @Benchmark
    public Order decideAndEvolve() {
        Decision<Happened> d = ORDER.decide(command, placed);
        return ORDER.fold(placed, d.events());
    }
}
