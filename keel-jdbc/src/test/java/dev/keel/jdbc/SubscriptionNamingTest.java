package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.Keel;
import dev.keel.SubscriptionException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Names key durable cursors: a handler's name never depends on the order handlers are registered in. */
class SubscriptionNamingTest {
    @TempDir
    Path dir;

    private Keel runtime() {
        return Keel.builder()
                .lanes(2)
                .journal(JdbcJournal.sqlite(dir.resolve("keel.db")))
                .build();
    }

    @Test
    void shouldResumeEachHandlersCursorWhateverTheOrderOfRegistration() {
        List<Object> orders = new ArrayList<>();
        List<Object> payments = new ArrayList<>();
        try (Keel keel = runtime()) {
            keel.on("order.*", Object.class, d -> orders.add(d.data()));
            keel.on("payment.*", Object.class, d -> payments.add(d.data()));
            keel.emit("order.placed", "o", "o-1").join();
            keel.emit("payment.made", "p", "p-1").join();
            keel.process();
        }
        orders.clear();
        payments.clear();
        try (Keel keel = runtime()) {
            keel.on("payment.*", Object.class, d -> payments.add(d.data())); // the other order this time
            keel.on("order.*", Object.class, d -> orders.add(d.data()));
            keel.emit("order.placed", "o", "o-2").join();
            keel.emit("payment.made", "p", "p-2").join();
            keel.process();
        }
        assertThat(orders).containsExactly("o-2");
        assertThat(payments).containsExactly("p-2");
    }

    @Test
    void shouldRefuseASecondUnnamedHandlerOfTheSamePatternAndType() {
        try (Keel keel = runtime()) {
            keel.on("order.*", Object.class, d -> {});
            assertThatThrownBy(() -> keel.on("order.*", Object.class, d -> {}))
                    .isInstanceOf(SubscriptionException.class)
                    .hasMessageContaining("on(name, pattern, type, handler)");
            assertThat(keel.on("audit", "order.*", Object.class, d -> {}).name())
                    .isEqualTo("audit");
            assertThat(keel.subscriptions()).hasSize(2);
        }
    }
}
