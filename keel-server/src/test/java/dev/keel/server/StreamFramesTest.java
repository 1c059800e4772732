package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.Event;
import dev.keel.TypePattern;
import dev.keel.spi.LogRecord;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The bytes of stream frames, without a server. */
class StreamFramesTest {
    private final StreamFrames frames = new StreamFrames(new ObjectMapper(), EventStreams.Settings.DEFAULT);

    private static OpenStream at(long... position) {
        OpenStream s = new OpenStream(null, List.of(TypePattern.of("**")), new AtomicInteger(1), 10);
        s.position = position;
        return s;
    }

    private static String text(byte[] frame) {
        return new String(frame, StandardCharsets.UTF_8);
    }

    @Test
    void shouldFrameAnEventWithTheStreamsPositionAsItsId() throws Exception {
        OpenStream s = at(3, 7);
        String frame = text(frames.event(s, Event.of("order.created", "x")));
        assertThat(frame).startsWith("id: " + StreamPosition.format(new long[] {3, 7}) + "\ndata: {");
        assertThat(frame).contains("\"type\":\"order.created\"").endsWith("}\n\n");
    }

    @Test
    void shouldShareOneFrameBetweenStreamsAtTheSamePosition() {
        StreamFrames.Frame f = frames.frame(new LogRecord(1, 7, Event.of("order.created", "x")));
        byte[] first = f.frameAt(at(3, 7));
        assertThat(f.frameAt(at(3, 7))).isSameAs(first);
        byte[] other = f.frameAt(at(4, 7));
        assertThat(other).isNotSameAs(first);
        assertThat(text(other)).startsWith("id: " + StreamPosition.format(new long[] {4, 7}) + "\ndata: {");
        assertThat(text(other).substring(text(other).indexOf("\ndata: ")))
                .isEqualTo(text(first).substring(text(first).indexOf("\ndata: "))); // the JSON is made once
    }

    @Test
    void shouldSayWhatWasSkippedWithAGapAndMoveTheStreamPastIt() throws Exception {
        OpenStream s = at(3, 7);
        String frame = text(frames.gap(s, 0, 9));
        assertThat(s.position).containsExactly(9, 7);
        assertThat(frame).startsWith("id: " + StreamPosition.format(new long[] {9, 7}) + "\nevent: keel.gap\ndata: {");
        assertThat(frame)
                .contains("\"lane\":0")
                .contains("\"from\":4")
                .contains("\"to\":9")
                .endsWith("}\n\n");
    }

    @Test
    void shouldEndWithAShutdownThatSaysWhenToReconnect() throws Exception {
        String frame = text(frames.shutdown("going away"));
        assertThat(frame)
                .isEqualTo("event: keel.shutdown\nretry: "
                        + EventStreams.Settings.DEFAULT.reconnect().toMillis()
                        + "\ndata: {\"reason\":\"going away\"}\n\n");
        assertThat(text(frames.opening())).isEqualTo("retry: 2000\n: stream open\n\n");
    }

    @Test
    void shouldGiveTheLastPositionWhenAStreamOverflowsOrBreaks() throws Exception {
        OpenStream s = at(3, 7);
        String lastEventId = "\"lastEventId\":\"" + StreamPosition.format(new long[] {3, 7}) + "\"";
        assertThat(text(frames.overflow(s)))
                .startsWith("event: keel.overflow\n")
                .contains(lastEventId);
        assertThat(text(frames.broken(s))).startsWith("event: keel.error\n").contains(lastEventId);
    }
}
