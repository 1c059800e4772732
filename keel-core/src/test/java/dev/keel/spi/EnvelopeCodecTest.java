package dev.keel.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.PayloadCompression;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class EnvelopeCodecTest {
    @Test
    void shouldReadTimestampsExactlyAsInstantParseDoes() {
        SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < 100_000; i++) {
            Instant t = Instant.ofEpochSecond(
                    random.nextLong(Instant.parse("0000-01-01T00:00:00Z").getEpochSecond(), 253_402_300_799L),
                    switch (i % 4) {
                        case 0 -> 0;
                        case 1 -> random.nextInt(1_000) * 1_000_000;
                        case 2 -> random.nextInt(1_000_000) * 1_000;
                        default -> random.nextInt(1_000_000_000);
                    });
            assertThat(EnvelopeCodec.instant(t.toString())).isEqualTo(t);
        }
    }

    @Test
    void shouldWriteTimestampsExactlyAsInstantToStringDoes() {
        SplittableRandom random = new SplittableRandom(7);
        byte[] buf = new byte[30];
        for (int i = 0; i < 100_000; i++) {
            Instant t = Instant.ofEpochSecond(
                    random.nextLong(0, 253_402_300_800L),
                    switch (i % 4) {
                        case 0 -> 0;
                        case 1 -> random.nextInt(1_000) * 1_000_000;
                        case 2 -> random.nextInt(1_000_000) * 1_000;
                        default -> random.nextInt(1_000_000_000);
                    });
            int n = EnvelopeCodec.format(t, buf);
            assertThat(new String(buf, 0, n, java.nio.charset.StandardCharsets.US_ASCII))
                    .isEqualTo(t.toString());
        }
        assertThat(EnvelopeCodec.format(Instant.parse("1969-12-31T23:59:59Z"), buf))
                .isEqualTo(-1);
        assertThat(EnvelopeCodec.format(Instant.parse("+10000-01-01T00:00:00Z"), buf))
                .isEqualTo(-1);
    }

    @Test
    void shouldRoundTripEventsWhateverTheirTimesAndData() {
        EnvelopeCodec codec = new EnvelopeCodec(new com.fasterxml.jackson.databind.ObjectMapper());
        for (Object data : new Object[] {
            "text with \"quotes\" and é", 42, 7_000_000_000L, true, java.util.Map.of("a", java.util.List.of(1, 2))
        }) {
            for (Instant time : new Instant[] {
                Instant.parse("2026-12-03T17:20:00Z"),
                Instant.parse("2026-12-03T17:20:00.120Z"),
                Instant.parse("-0001-01-01T00:00:00.000001Z"),
                Instant.parse("+12026-01-31T12:00:00.123456789Z")
            }) {
                dev.keel.Event<Object> e = dev.keel.Event.builder("order.placed", data)
                        .time(time)
                        .deliverAt(time.plusSeconds(5))
                        .key("k-1")
                        .build();
                dev.keel.Event<Object> back = codec.read(codec.write(e));
                assertThat(back.time()).isEqualTo(time);
                assertThat(back.deliverAt()).isEqualTo(time.plusSeconds(5));
                assertThat(back.data()).isEqualTo(data);
                assertThat(back.partitionKey()).isEqualTo("k-1");
                assertThat(back.id()).isEqualTo(e.id());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "2024-02-29T23:59:59Z",
                "2026-12-31T00:00:00.5Z",
                "2026-01-31T12:00:00.123456789Z",
                "2026-01-31T12:00:00+02:00",
                "2026-01-31T12:00:00.1+00:00",
                "+12026-01-31T12:00:00Z",
                "2026-01-01T24:00:00Z",
                "2026-01-01T00:00:00.Z"
            })
    void shouldAgreeWithInstantParseOnOtherForms(String text) {
        assertThat(EnvelopeCodec.instant(text)).isEqualTo(Instant.parse(text));
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "2025-02-29T00:00:00Z",
                "2026-13-01T00:00:00Z",
                "2026-01-01T00:60:00Z",
                "2026-0a-01T00:00:00Z",
                "2026-01-01 00:00:00Z",
                "yesterday"
            })
    void shouldRefuseWhatInstantParseRefuses(String text) {
        assertThatThrownBy(() -> Instant.parse(text)).isInstanceOf(DateTimeParseException.class);
        assertThatThrownBy(() -> EnvelopeCodec.instant(text)).isInstanceOf(DateTimeParseException.class);
    }

    // ---- compressed data ----

    /**
     * Two envelopes exactly as the encoder wrote them before compressed data existed (a JSON object, and bytes),
     * kept as bytes so that a change of the encoder cannot change them.
     */
    private static final byte[] WRITTEN_BEFORE_COMPRESSION = ("{\"specversion\":\"1.0\",\"id\":"
                    + "\"018f0000-0000-7000-8000-000000000001\",\"source\":\"/shop\",\"type\":\"order.placed\","
                    + "\"time\":\"2026-01-01T00:00:00Z\",\"datacontenttype\":\"application/json\","
                    + "\"partitionkey\":\"o-1\",\"data\":{\"orderId\":\"o-1\",\"lines\":[{\"qty\":2,\"sku\":\"A-1\"}]}}")
            .getBytes(StandardCharsets.UTF_8);

    private static final byte[] BYTES_WRITTEN_BEFORE_COMPRESSION = ("{\"specversion\":\"1.0\",\"id\":"
                    + "\"018f0000-0000-7000-8000-000000000002\",\"source\":\"/shop\",\"type\":\"file.stored\","
                    + "\"time\":\"2026-01-01T00:00:01Z\",\"datacontenttype\":\"application/json\","
                    + "\"data_base64\":\"AQID/w==\"}")
            .getBytes(StandardCharsets.UTF_8);

    private static EnvelopeCodec codec(PayloadCompression compression) {
        return new EnvelopeCodec(new ObjectMapper(), compression);
    }

    private static PayloadCompression compression(PayloadCompression.Algorithm algorithm, int threshold) {
        return new PayloadCompression(algorithm, threshold);
    }

    /** An order of {@code lines} line items: about 200 bytes of JSON per line, compressible as orders are. */
    static Map<String, Object> order(int lines) {
        Map<String, Object> order = new LinkedHashMap<>();
        order.put("orderId", "o-20261203-000042");
        order.put("customer", Map.of("id", "c-981", "name", "Ada Lovelace", "email", "ada@example.org"));
        List<Object> items = new ArrayList<>();
        for (int i = 0; i < lines; i++) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("sku", "SKU-" + (1000 + i));
            item.put("name", "Item number " + i + " with a longer description");
            item.put("quantity", i % 5 + 1);
            item.put("unitPrice", 1999 + i * 10);
            item.put("currency", "EUR");
            items.add(item);
        }
        order.put("lines", items);
        return order;
    }

    @ParameterizedTest
    @EnumSource(PayloadCompression.Algorithm.class)
    void shouldReadEnvelopesWrittenBeforeCompressionExistedWhateverTheSetting(PayloadCompression.Algorithm algorithm) {
        EnvelopeCodec codec = codec(compression(algorithm, 0));

        Event<Object> order = codec.read(WRITTEN_BEFORE_COMPRESSION);
        assertThat(order.id()).isEqualTo("018f0000-0000-7000-8000-000000000001");
        assertThat(order.partitionKey()).isEqualTo("o-1");
        assertThat(order.data()).isEqualTo(Map.of("orderId", "o-1", "lines", List.of(Map.of("qty", 2, "sku", "A-1"))));

        Event<Object> file = codec.read(BYTES_WRITTEN_BEFORE_COMPRESSION);
        assertThat(file.data()).isEqualTo(new byte[] {1, 2, 3, (byte) 0xff});
    }

    @Test
    void shouldWriteUncompressedEnvelopesExactlyAsBeforeWhenCompressionIsOff() {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("qty", 2);
        line.put("sku", "A-1");
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("orderId", "o-1");
        data.put("lines", List.of(line));
        Event<Object> order = Event.<Object>builder("order.placed", data)
                .id("018f0000-0000-7000-8000-000000000001")
                .source("/shop")
                .key("o-1")
                .time(Instant.parse("2026-01-01T00:00:00Z"))
                .build();
        assertThat(codec(PayloadCompression.NONE).write(order)).isEqualTo(WRITTEN_BEFORE_COMPRESSION);
        assertThat(codec(PayloadCompression.lz4()).write(order)).isEqualTo(WRITTEN_BEFORE_COMPRESSION);
    }

    @ParameterizedTest
    @EnumSource(
            value = PayloadCompression.Algorithm.class,
            names = {"LZ4", "ZSTD"})
    void shouldCompressLargeDataAndReadItBackEqual(PayloadCompression.Algorithm algorithm) {
        EnvelopeCodec plain = codec(PayloadCompression.NONE);
        EnvelopeCodec codec = codec(compression(algorithm, 4096));
        byte[] document = new ObjectMapper().valueToTree(order(200)).toString().getBytes(StandardCharsets.UTF_8);
        for (Object data : new Object[] {order(200), document, "x".repeat(10_000), order(2), "short", 42}) {
            Event<Object> e = Event.builder("order.placed", data).key("k").build();
            byte[] stored = codec.write(e);
            byte[] uncompressed = plain.write(e);
            String text = new String(stored, StandardCharsets.US_ASCII);
            boolean large = uncompressed.length > 5_000;
            assertThat(text.contains("\"dataencoding\":\"" + algorithm.attribute() + "\""))
                    .as("compressed: %s", data.getClass())
                    .isEqualTo(large);
            if (large) {
                assertThat(stored.length).isLessThan(uncompressed.length / 2);
            } else {
                assertThat(stored).isEqualTo(uncompressed);
            }
            Event<Object> back = codec.read(stored);
            assertThat(back.data()).isEqualTo(plain.read(uncompressed).data());
            assertThat(back.id()).isEqualTo(e.id());
            // Any reader reads it, whatever its own setting.
            assertThat(plain.read(stored).data()).isEqualTo(back.data());
        }
    }

    @Test
    void shouldStoreDataAsItIsWhenCompressionSavesTooLittle() {
        byte[] noise = new byte[16_384];
        new SplittableRandom(3).nextBytes(noise);
        EnvelopeCodec codec = codec(PayloadCompression.lz4(1024));
        byte[] stored = codec.write(Event.<Object>builder("file.stored", noise).build());
        assertThat(new String(stored, StandardCharsets.US_ASCII)).doesNotContain("dataencoding");
        assertThat(codec.read(stored).data()).isEqualTo(noise);
    }

    @ParameterizedTest
    @EnumSource(
            value = PayloadCompression.Algorithm.class,
            names = {"LZ4", "ZSTD"})
    void shouldRefuseADamagedCompressedPayloadWithATypedErrorNamingTheEvent(PayloadCompression.Algorithm algorithm)
            throws Exception {
        EnvelopeCodec codec = codec(compression(algorithm, 0));
        Event<Object> e = Event.<Object>builder("order.placed", order(50)).build();
        ObjectMapper json = new ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode envelope =
                (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(codec.write(e));
        byte[] frame = Base64.getDecoder().decode(envelope.get("data_base64").asText());

        byte[] damaged = frame.clone();
        for (int i = 6; i < damaged.length; i += 7) {
            damaged[i] ^= 0x5A;
        }
        byte[] truncated = java.util.Arrays.copyOf(frame, frame.length / 2);
        byte[] laterVersion = frame.clone();
        laterVersion[0] = 9;
        byte[] longerClaim = frame.clone();
        longerClaim[2] = 0x7F;
        for (byte[] bad : List.of(damaged, truncated, laterVersion, longerClaim)) {
            envelope.put("data_base64", Base64.getEncoder().encodeToString(bad));
            byte[] stored = json.writeValueAsBytes(envelope);
            assertThatThrownBy(() -> codec.read(stored))
                    .isInstanceOfSatisfying(UnreadablePayloadException.class, x -> assertThat(x.eventId())
                            .isEqualTo(e.id()))
                    .hasMessageContaining(e.id())
                    .hasMessageContaining(algorithm.attribute());
        }
        envelope.put("data_base64", Base64.getEncoder().encodeToString(frame));
        envelope.put("dataencoding", "brotli");
        byte[] unknown = json.writeValueAsBytes(envelope);
        assertThatThrownBy(() -> codec.read(unknown))
                .isInstanceOf(UnreadablePayloadException.class)
                .hasMessageContaining("'brotli', which this release does not read");
    }
}
