package dev.keel.codecs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import com.google.protobuf.Timestamp;
import com.google.protobuf.Value;
import dev.keel.DeadLetter;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.InvalidEventException;
import dev.keel.Keel;
import dev.keel.PermanentFailureException;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DataCodecsTest {
    record Line(String sku, int quantity, long unitPrice) {}

    record Order(String id, String customer, List<Line> lines, Instant placedAt) {}

    private static final Order ORDER = new Order(
            "o-1",
            "c-9",
            List.of(new Line("SKU-1", 2, 1999), new Line("SKU-2", 1, 4500)),
            Instant.parse("2026-12-03T17:20:00.123Z"));

    private static final Struct STRUCT = Struct.newBuilder()
            .putFields("id", Value.newBuilder().setStringValue("o-1").build())
            .putFields("total", Value.newBuilder().setNumberValue(84.98).build())
            .build();

    enum Engine {
        MEMORY,
        SQLITE
    }

    @TempDir
    Path dir;

    private Keel keel(Engine engine) {
        Keel.Builder b = Keel.builder().lanes(2);
        if (engine == Engine.SQLITE) {
            b.journal(JdbcJournal.sqlite(dir.resolve("keel.db")));
        }
        return b.build();
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void shouldDeliverEachCodecsDataAsTheHandlersTypeWithItsContentTypeRecorded(Engine engine) {
        try (Keel keel = keel(engine)) {
            List<Order> orders = new CopyOnWriteArrayList<>();
            List<Object> maps = new CopyOnWriteArrayList<>();
            List<Struct> structs = new CopyOnWriteArrayList<>();
            List<String> contentTypes = new CopyOnWriteArrayList<>();
            keel.subscribe(Subscription.builder("orders")
                    .types("order.*")
                    .handler(Order.class, d -> orders.add(d.data()))
                    .build());
            // Another subscription asks for the same data as a map: converted by the codec that wrote it.
            keel.subscribe(Subscription.builder("audit")
                    .types("order.*")
                    .handler(Map.class, d -> maps.add(d.data()))
                    .build());
            keel.subscribe(Subscription.builder("totals")
                    .types("total.*")
                    .handler(Struct.class, d -> structs.add(d.data()))
                    .build());
            keel.subscribe(Subscription.builder("raw")
                    .types("*.*")
                    .handler(Object.class, d -> contentTypes.add(d.event().dataContentType()))
                    .build());

            keel.emit(Event.builder("order.placed", ORDER)
                            .key("o-1")
                            .dataContentType(MessagePackCodec.CONTENT_TYPE)
                            .build())
                    .join();
            keel.emit(Event.builder("order.placed", ORDER).key("o-1").build()).join();
            keel.emit(Event.builder("total.computed", STRUCT).key("o-1").build())
                    .join();
            keel.process();

            assertThat(orders).containsExactly(ORDER, ORDER);
            assertThat(maps).hasSize(2).allSatisfy(m -> {
                Map<?, ?> map = (Map<?, ?>) m;
                assertThat(map.get("id")).isEqualTo("o-1");
                assertThat(map.get("customer")).isEqualTo("c-9");
            });
            assertThat(structs).containsExactly(STRUCT);
            assertThat(contentTypes)
                    .containsExactly(
                            "application/msgpack",
                            "application/json",
                            "application/protobuf; messageType=google.protobuf.Struct");
        }
    }

    @ParameterizedTest
    @EnumSource(Engine.class)
    void shouldDeadLetterDataAskedForAsATypeItsCodecCannotMakeSayingWhy(Engine engine) {
        try (Keel keel = keel(engine)) {
            keel.subscribe(Subscription.builder("clock")
                    .types("total.*")
                    .handler(Timestamp.class, d -> {})
                    .build());
            keel.subscribe(Subscription.builder("pojo")
                    .types("total.*")
                    .handler(Order.class, d -> {})
                    .build());
            keel.emit(Event.builder("total.computed", STRUCT).key("o-1").build())
                    .join();
            keel.process();

            DeadLetter clock = keel.deadLetters()
                    .list(DeadLetterQuery.all().withSubscription("clock"))
                    .getFirst();
            assertThat(clock.lastErrorType()).isEqualTo(PermanentFailureException.class.getName());
            assertThat(clock.errors().getFirst().message())
                    .contains("holds a google.protobuf.Struct message", Timestamp.class.getName());
            DeadLetter pojo = keel.deadLetters()
                    .list(DeadLetterQuery.all().withSubscription("pojo"))
                    .getFirst();
            assertThat(pojo.errors().getFirst().message())
                    .contains("can be read only as a com.google.protobuf.Message class", Order.class.getName());
        }
    }

    @Test
    void shouldRefuseAnEmitWhoseDataItsCodecCannotWrite() {
        try (Keel keel = keel(Engine.MEMORY)) {
            assertThatThrownBy(() -> keel.emit(Event.builder("total.computed", ORDER)
                            .dataContentType("application/protobuf")
                            .build()))
                    .isInstanceOf(InvalidEventException.class)
                    .hasMessageContaining("writes com.google.protobuf.Message data only");
        }
    }

    @Test
    void shouldRoundTripEachCodecOnItsOwn() {
        MessagePackCodec msgpack = new MessagePackCodec();
        assertThat(msgpack.decode(msgpack.encode(ORDER).bytes(), "application/x-msgpack", Order.class))
                .isEqualTo(ORDER);
        ProtobufCodec protobuf = new ProtobufCodec();
        var encoded = protobuf.encode(STRUCT);
        assertThat(protobuf.decode(encoded.bytes(), encoded.contentType(), Struct.class))
                .isEqualTo(STRUCT);
        assertThat(protobuf.decode(encoded.bytes(), "application/x-protobuf", Struct.class))
                .isEqualTo(STRUCT);
    }
}
