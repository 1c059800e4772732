package dev.keel.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
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
}
