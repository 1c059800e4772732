package dev.keel.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.TypePattern;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The open streams' book-keeping, without a server: slots per token, tenants, release once. */
class StreamRegistryTest {
    private final StreamRegistry registry = new StreamRegistry(2);

    private OpenStream open(Object token, String tenant) {
        AtomicInteger held = registry.claim(token);
        assertThat(held).as("a slot for " + token).isNotNull();
        OpenStream s = new OpenStream(tenant, List.of(TypePattern.of("**")), held, 10);
        registry.add(s);
        return s;
    }

    @Test
    void shouldLimitSlotsPerTokenAndGiveThemBackOnceOnRelease() {
        OpenStream a = open("t1", null);
        open("t1", null);
        assertThat(registry.claim("t1")).isNull();
        assertThat(registry.claim("t2")).isNotNull(); // another token's slots are its own

        registry.release(a);
        registry.release(a); // a second release gives back nothing more
        assertThat(a.held.get()).isEqualTo(1);
        assertThat(registry.claim("t1")).isNotNull();
        assertThat(registry.claim("t1")).isNull();
    }

    @Test
    void shouldCountOpenModeStreamsUnderOneKey() {
        open(null, null);
        open(null, null);
        assertThat(registry.claim(null)).isNull();
    }

    @Test
    void shouldCountStreamsPerTenantAndJoins() {
        OpenStream a = open("t1", "acme");
        open("t2", "acme");
        open("t3", "globex");
        assertThat(registry.open("acme")).isEqualTo(2);
        assertThat(registry.open("globex")).isEqualTo(1);
        assertThat(registry.open(null)).isEqualTo(3);
        assertThat(registry.joins()).isEqualTo(3);

        registry.release(a);
        assertThat(registry.open("acme")).isEqualTo(1);
        assertThat(registry.joins()).isEqualTo(3); // joins only grow
        assertThat(registry.isEmpty()).isFalse();
    }

    @Test
    void shouldRemoveAReleasedStreamFromItsFanOutsShare() {
        StreamFanOut fanOut = new StreamFanOut(0);
        OpenStream s = open("t1", null);
        s.owner = fanOut;
        fanOut.streams.add(s);
        registry.release(s);
        assertThat(fanOut.streams).isEmpty();
        assertThat(registry.isEmpty()).isTrue();
    }
}
