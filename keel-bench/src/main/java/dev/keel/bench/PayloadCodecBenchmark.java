package dev.keel.bench;

import com.google.protobuf.DescriptorProtos.DescriptorProto;
import com.google.protobuf.DescriptorProtos.FieldDescriptorProto;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import dev.keel.Event;
import dev.keel.PayloadCompression;
import dev.keel.codecs.MessagePackCodec;
import dev.keel.codecs.ProtobufCodec;
import dev.keel.internal.payload.PayloadCodec;
import dev.keel.spi.EnvelopeCodec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
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
 * One event's data stored and read back, per data codec (JSON, MessagePack, Protobuf) and per stored-payload
 * compression (none, LZ4, zstd), on three realistic events: a small status event (about 200 bytes of JSON), an
 * order with ten line items and two addresses (about 2 KiB), and a 50 KiB document. {@code encode} is what an
 * emit costs on a durable engine: the codec's encoding at emit, then the stored envelope (compressed when it saves
 * an eighth; the threshold is 0 here, so every size is tried). {@code decode} is what a delivery costs: the
 * envelope read back, then the data as the handler's type (a record for JSON and MessagePack; a Protobuf message,
 * here a {@link DynamicMessage} from a descriptor built at start, which parses slower than a generated class).
 *
 * <p>{@link #main} prints the stored size of every combination.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class PayloadCodecBenchmark {
    @Param({"small", "order", "document"})
    String event;

    @Param({"json", "msgpack", "protobuf"})
    String codec;

    @Param({"none", "lz4", "zstd"})
    String compression;

    record Address(String name, String street, String city, String postalCode, String country) {}

    record Line(String sku, String name, int quantity, long unitPriceCents, long discountCents) {}

    record Order(
            String id,
            String customerId,
            String email,
            Address shipping,
            Address billing,
            List<Line> lines,
            long totalCents,
            String currency,
            long placedAtMillis,
            String status) {}

    record Status(String orderId, String customerId, String status, long amountCents, String currency, long atMillis) {}

    record Section(String heading, String body, List<String> tags) {}

    record Document(String id, String title, String author, List<Section> sections) {}

    private PayloadCodec payloads;
    private EnvelopeCodec envelopes;
    private Event<Object> toStore;
    private byte[] stored;
    private Class<?> type;
    private Descriptor descriptor;

    @Setup
    public void setUp() {
        payloads = new PayloadCodec(PayloadCodec.defaultMapper(), List.of(new MessagePackCodec(), new ProtobufCodec()));
        envelopes = new EnvelopeCodec(PayloadCodec.defaultMapper(), compression(compression));
        Object data = data(event);
        type = data.getClass();
        descriptor = Protos.descriptor(type);
        Object payload = codec.equals("protobuf") ? Protos.message(descriptor, data) : data;
        Event.Builder<Object> b = Event.builder("bench." + event, payload)
                .id("0193a5d2-7c1e-7b9a-8f00-3c2d1e0f4a5b")
                .source("/keel/bench")
                .time(Instant.parse("2026-12-03T17:20:00.123Z"))
                .key("key-417");
        if (codec.equals("msgpack")) {
            b.dataContentType(MessagePackCodec.CONTENT_TYPE);
        }
        toStore = b.build();
        stored = encode();
    }

    @Benchmark
    public byte[] encode() {
        return envelopes.write(payloads.encode(toStore));
    }

    @Benchmark
    public Object decode() throws InvalidProtocolBufferException {
        Event<Object> read = envelopes.read(stored);
        if (codec.equals("protobuf")) {
            return DynamicMessage.parseFrom(descriptor, (byte[]) read.data());
        }
        return payloads.convert(read, type).data();
    }

    static PayloadCompression compression(String name) {
        return switch (name) {
            case "none" -> PayloadCompression.NONE;
            case "lz4" -> PayloadCompression.lz4(0);
            case "zstd" -> PayloadCompression.zstd(0);
            default -> throw new IllegalArgumentException("compression: none, lz4 or zstd, not " + name);
        };
    }

    static Object data(String name) {
        return switch (name) {
            case "small" ->
                new Status("o-20261203-000042", "c-000981", "PAYMENT_CAPTURED", 12_497, "EUR", 1_764_782_400_123L);
            case "order" -> order();
            case "document" -> document();
            default -> throw new IllegalArgumentException("event: small, order or document, not " + name);
        };
    }

    private static Order order() {
        List<Line> lines = new ArrayList<>();
        String[] names = {
            "Espresso beans 1 kg",
            "Ceramic pour-over dripper",
            "Paper filters, 100 pack",
            "Burr grinder",
            "Milk jug 600 ml",
            "Gooseneck kettle 1 l",
            "Digital scale 0.1 g",
            "Travel mug 350 ml",
            "Descaling tablets",
            "Cleaning brush set"
        };
        for (int i = 0; i < 10; i++) {
            lines.add(
                    new Line("SKU-" + (40_210 + i * 37), names[i], 1 + i % 3, 1_299 + i * 750L, i % 4 == 0 ? 200 : 0));
        }
        Address shipping = new Address("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB");
        Address billing = new Address("Ada Lovelace", "Ockham Park, Ripley Road", "Woking", "GU23 6NR", "GB");
        return new Order(
                "o-20261203-000042",
                "c-000981",
                "ada.lovelace@example.org",
                shipping,
                billing,
                lines,
                42_490,
                "EUR",
                1_764_782_400_123L,
                "PLACED");
    }

    private static Document document() {
        String[] words =
                ("the of and to a in that is was for on with as by at from this be are or it an which not have "
                                + "event lane cursor delivery subscription journal order payment shipment customer retry "
                                + "storage engine record partition stream handler failure commit lease instance")
                        .split(" ");
        SplittableRandom random = new SplittableRandom(42);
        List<Section> sections = new ArrayList<>();
        for (int s = 0; s < 60; s++) {
            StringBuilder body = new StringBuilder();
            for (int w = 0; w < 130; w++) {
                body.append(words[random.nextInt(words.length)]).append(w % 14 == 13 ? ". " : " ");
            }
            sections.add(new Section("Section " + (s + 1), body.toString().strip(), List.of("guide", "v" + s % 4)));
        }
        return new Document("doc-7731", "Operating Keel in production", "Operations team", sections);
    }

    /** Descriptors for the records above, built at run time (no generated classes in this module). */
    static final class Protos {
        private static final FileDescriptor FILE = file();

        static Descriptor descriptor(Class<?> type) {
            return FILE.findMessageTypeByName(type.getSimpleName());
        }

        private static FileDescriptor file() {
            FileDescriptorProto.Builder f = FileDescriptorProto.newBuilder()
                    .setName("bench.proto")
                    .setPackage("keel.bench")
                    .setSyntax("proto3");
            f.addMessageType(message("Address", "name", "street", "city", "postalCode", "country"));
            f.addMessageType(message("Line", "sku", "name", "+quantity", "#unitPriceCents", "#discountCents"));
            f.addMessageType(message(
                    "Order",
                    "id",
                    "customerId",
                    "email",
                    "@Address shipping",
                    "@Address billing",
                    "*Line lines",
                    "#totalCents",
                    "currency",
                    "#placedAtMillis",
                    "status"));
            f.addMessageType(
                    message("Status", "orderId", "customerId", "status", "#amountCents", "currency", "#atMillis"));
            f.addMessageType(message("Section", "heading", "body", "$tags"));
            f.addMessageType(message("Document", "id", "title", "author", "*Section sections"));
            try {
                return FileDescriptor.buildFrom(f.build(), new FileDescriptor[0]);
            } catch (com.google.protobuf.Descriptors.DescriptorValidationException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Fields: a name is a string, "+" an int32, "#" an int64, "$" repeated strings, "@T" a T, "*T" repeated T. */
        private static DescriptorProto message(String name, String... fields) {
            DescriptorProto.Builder m = DescriptorProto.newBuilder().setName(name);
            for (int i = 0; i < fields.length; i++) {
                String spec = fields[i];
                FieldDescriptorProto.Builder field =
                        FieldDescriptorProto.newBuilder().setNumber(i + 1);
                FieldDescriptorProto.Label label = FieldDescriptorProto.Label.LABEL_OPTIONAL;
                switch (spec.charAt(0)) {
                    case '+' -> field.setName(spec.substring(1)).setType(FieldDescriptorProto.Type.TYPE_INT32);
                    case '#' -> field.setName(spec.substring(1)).setType(FieldDescriptorProto.Type.TYPE_INT64);
                    case '$' -> {
                        field.setName(spec.substring(1)).setType(FieldDescriptorProto.Type.TYPE_STRING);
                        label = FieldDescriptorProto.Label.LABEL_REPEATED;
                    }
                    case '@', '*' -> {
                        String[] parts = spec.substring(1).split(" ");
                        field.setName(parts[1])
                                .setType(FieldDescriptorProto.Type.TYPE_MESSAGE)
                                .setTypeName(".keel.bench." + parts[0]);
                        if (spec.charAt(0) == '*') {
                            label = FieldDescriptorProto.Label.LABEL_REPEATED;
                        }
                    }
                    default -> field.setName(spec).setType(FieldDescriptorProto.Type.TYPE_STRING);
                }
                m.addField(field.setLabel(label));
            }
            return m.build();
        }

        /** The record as a message of its descriptor, component by component. */
        static Message message(Descriptor d, Object value) {
            DynamicMessage.Builder b = DynamicMessage.newBuilder(d);
            for (var component : value.getClass().getRecordComponents()) {
                var field = d.findFieldByName(component.getName());
                Object v;
                try {
                    v = component.getAccessor().invoke(value);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
                if (field.isRepeated()) {
                    for (Object item : (List<?>) v) {
                        b.addRepeatedField(
                                field,
                                field.getJavaType() == com.google.protobuf.Descriptors.FieldDescriptor.JavaType.MESSAGE
                                        ? message(field.getMessageType(), item)
                                        : item);
                    }
                } else if (field.getJavaType() == com.google.protobuf.Descriptors.FieldDescriptor.JavaType.MESSAGE) {
                    b.setField(field, message(field.getMessageType(), v));
                } else {
                    b.setField(field, v);
                }
            }
            return b.build();
        }
    }

    /**
     * Prints the stored envelope's size for every event, codec and compression (compression tried from 0 bytes),
     * and the size of the data alone as the codec writes it.
     */
    public static void main(String[] args) {
        System.out.printf(Locale.ROOT, "%-9s %-9s %8s %8s %8s %8s%n", "event", "codec", "none", "lz4", "zstd", "data");
        for (String e : new String[] {"small", "order", "document"}) {
            for (String c : new String[] {"json", "msgpack", "protobuf"}) {
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-9s %-9s", e, c));
                for (String z : new String[] {"none", "lz4", "zstd"}) {
                    PayloadCodecBenchmark b = new PayloadCodecBenchmark();
                    b.event = e;
                    b.codec = c;
                    b.compression = z;
                    b.setUp();
                    line.append(String.format(Locale.ROOT, " %8d", b.stored.length));
                    if (z.equals("zstd")) {
                        Object data = b.payloads.encode(b.toStore).data();
                        int size = data instanceof byte[] bytes
                                ? bytes.length
                                : b.payloads
                                        .mapper()
                                        .valueToTree(data)
                                        .toString()
                                        .length();
                        line.append(String.format(Locale.ROOT, " %8d", size));
                    }
                }
                System.out.println(line);
            }
        }
    }
}
